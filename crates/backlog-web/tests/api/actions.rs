use backlog::cron::{CronSchedule, Schedule};
use backlog_storage::JobOutcome;
use backlog_types::JobState;
use backlog_web::WebOptions;
use serde_json::json;

use crate::support::{app, discard, enqueue, get, post, run_one, Db};

async fn state_of(db: &Db, id: i64) -> Option<JobState> {
    db.job_get(id).await.unwrap().map(|j| j.state)
}

pub async fn retry_cancel_delete_by_ids(db: Db) {
    let dead = enqueue(&db, "q", "k", json!({})).await;
    run_one(&db, "q", discard("boom")).await;
    let waiting = enqueue(&db, "q", "k", json!({})).await;
    let app = app(&db, WebOptions::default());

    let r = post(&app, "/api/jobs/actions/retry", json!({"ids": [dead]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed"], json!([dead]));
    assert_eq!(state_of(&db, dead).await, Some(JobState::Available));

    let r = post(&app, "/api/jobs/actions/cancel", json!({"ids": [waiting]})).await;
    assert_eq!(r.json()["cancelled"], json!([waiting]));
    assert_eq!(state_of(&db, waiting).await, Some(JobState::Cancelled));

    // Delete removes finished jobs only.
    let r = post(
        &app,
        "/api/jobs/actions/delete",
        json!({"ids": [waiting, dead]}),
    )
    .await;
    assert_eq!(r.json()["changed"], json!([waiting]));
    assert_eq!(r.json()["matched"], 2);
    assert_eq!(state_of(&db, waiting).await, None);
    assert_eq!(state_of(&db, dead).await, Some(JobState::Available));

    for bad in [
        json!({}),
        json!({"ids": [1], "filter": "queue=q"}),
        json!({"filter": " "}),
    ] {
        let r = post(&app, "/api/jobs/actions/retry", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(
        post(&app, "/api/jobs/actions/explode", json!({"ids": [1]}))
            .await
            .status,
        404
    );
}

pub async fn actions_by_filter_are_capped(db: Db) {
    for _ in 0..5 {
        enqueue(&db, "bulk", "k", json!({"batch": "b1"})).await;
    }
    enqueue(&db, "other", "k", json!({"batch": "b1"})).await;
    let app = app(
        &db,
        WebOptions {
            bulk_cap: 3,
            ..WebOptions::default()
        },
    );
    let count = get(&app, "/api/jobs/count?queue=bulk&args.batch=b1")
        .await
        .json();
    assert_eq!(count, json!({"count": 3, "capped": true, "cap": 3}));
    let count = get(&app, "/api/jobs/count?queue=other").await.json();
    assert_eq!(count["count"], 1);
    assert_eq!(count["capped"], false);

    let r = post(
        &app,
        "/api/jobs/actions/cancel",
        json!({"filter": "queue=bulk"}),
    )
    .await;
    let body = r.json();
    assert_eq!(body["matched"], 3);
    assert_eq!(body["capped"], true);
    assert_eq!(body["cancelled"].as_array().unwrap().len(), 3);
    let left = get(&app, "/api/jobs?queue=bulk&state=available")
        .await
        .json();
    assert_eq!(left["jobs"].as_array().unwrap().len(), 2);
    // A second round takes the rest.
    let r = post(
        &app,
        "/api/jobs/actions/cancel",
        json!({"filter": "queue=bulk&state=available"}),
    )
    .await;
    assert_eq!(r.json()["matched"], 2);
    assert_eq!(r.json()["capped"], false);
    // A bad filter is refused before anything changes.
    let r = post(
        &app,
        "/api/jobs/actions/retry",
        json!({"filter": "state=nope"}),
    )
    .await;
    assert_eq!(r.status, 400);
}

pub async fn queues_pause_resume_and_limits(db: Db) {
    enqueue(&db, "media", "k", json!({})).await;
    let app = app(&db, WebOptions::default());
    let r = post(&app, "/api/queues/media/pause", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = &get(&app, "/api/queues").await.json()["queues"][0];
    assert_eq!(q["name"], "media");
    assert_eq!(q["paused"], true);
    assert_eq!(q["available"], 1);
    assert!(q["latency_secs"].as_f64().is_some());
    let r = post(&app, "/api/queues/media/resume", json!({})).await;
    assert_eq!(r.json()["changed"], true);
    assert_eq!(
        get(&app, "/api/queues").await.json()["queues"][0]["paused"],
        false
    );

    let r = post(
        &app,
        "/api/queues/media/limits",
        json!({"max_running": 4, "rate_limit": {"max": 10, "period_secs": 60}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = &get(&app, "/api/queues").await.json()["queues"][0];
    assert_eq!(q["max_running"], 4);
    assert_eq!(q["rate_limit_max"], 10);
    assert_eq!(q["rate_limit_period_secs"], 60.0);
    // null removes a limit; an absent field is kept.
    post(
        &app,
        "/api/queues/media/limits",
        json!({"max_running": null}),
    )
    .await;
    let q = &get(&app, "/api/queues").await.json()["queues"][0];
    assert_eq!(q["max_running"], json!(null));
    assert_eq!(q["rate_limit_max"], 10);
    let bad = post(
        &app,
        "/api/queues/media/limits",
        json!({"rate_limit": {"max": 1, "period_secs": 0}}),
    )
    .await;
    assert_eq!(bad.status, 400);
    let bad = post(&app, "/api/queues/no%20spaces/pause", json!({})).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        post(&app, "/api/queues/media/explode", json!({}))
            .await
            .status,
        404
    );
}

pub async fn cron_toggle_trigger_edit(db: Db) {
    let client = backlog::Client::from_arc(db.clone());
    client
        .cron_upsert(
            CronSchedule::new(
                "nightly",
                "report",
                json!({"full": true}),
                Schedule::cron("0 3 * * *").unwrap(),
            )
            .queue("reports"),
        )
        .await
        .unwrap();
    let app = app(&db, WebOptions::default());
    let list = get(&app, "/api/cron").await.json();
    assert_eq!(list["schedules"][0]["name"], "nightly");
    assert_eq!(list["schedules"][0]["enabled"], true);

    let r = post(&app, "/api/cron/nightly/disable", json!({})).await;
    assert_eq!(r.json()["schedule"]["enabled"], false);
    let r = post(&app, "/api/cron/nightly/enable", json!({})).await;
    assert_eq!(r.json()["schedule"]["enabled"], true);

    let r = post(&app, "/api/cron/nightly/trigger", json!({})).await;
    let job = r.json()["job_id"].as_i64().unwrap();
    let row = db.job_get(job).await.unwrap().unwrap();
    assert_eq!(
        (row.kind.as_str(), row.queue.as_str()),
        ("report", "reports")
    );
    assert_eq!(row.args, json!({"full": true}));

    let r = post(
        &app,
        "/api/cron/nightly",
        json!({"spec": "@every 5m", "args": {"full": false}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = &get(&app, "/api/cron").await.json()["schedules"][0];
    assert_eq!(s["spec"], "@every 5m");
    assert_eq!(s["args"], json!({"full": false}));
    assert_eq!(s["queue"], "reports", "unchanged fields are kept");

    let bad = post(&app, "/api/cron/nightly", json!({"spec": "not a schedule"})).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        post(&app, "/api/cron/missing/trigger", json!({}))
            .await
            .status,
        404
    );
    // The finished trigger job is visible like any other.
    run_one(&db, "reports", JobOutcome::Completed).await;
}

pub async fn enqueue_is_off_unless_enabled(db: Db) {
    let off = app(&db, WebOptions::default());
    let r = post(&off, "/api/jobs", json!({"kind": "k", "args": {"a": 1}})).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("WebOptions::enqueue"));
    let on = app(
        &db,
        WebOptions {
            enqueue: true,
            ..WebOptions::default()
        },
    );
    let r = post(
        &on,
        "/api/jobs",
        json!({"kind": "k", "args": {"a": 1}, "queue": "ui", "priority": 5}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!((row.queue.as_str(), row.priority), ("ui", 5));
    let bad = post(&on, "/api/jobs", json!({"kind": "bad kind!"})).await;
    assert_eq!(bad.status, 400);
}

pub async fn remote_workers_are_commanded_through_the_server(db: Db) {
    // Without a server in this process there is nobody to command.
    let app = app(&db, WebOptions::default());
    let reply = post(&app, "/api/workers/w-1/quiet", json!({})).await;
    assert_eq!(reply.status, axum::http::StatusCode::NOT_FOUND);
    assert!(reply.body.contains("no ZeroMQ server"), "{}", reply.body);
    // With one: the command goes through the control hook, which says how many were told.
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = told.clone();
    let control: backlog_web::WorkerControl = std::sync::Arc::new(move |id, command| {
        seen.lock().unwrap().push((id.clone(), command));
        Box::pin(async move { usize::from(id == "w-1") })
    });
    let app = app_with(&db, control);
    let reply = post(&app, "/api/workers/w-1/terminate", json!({})).await;
    assert_eq!(reply.status, axum::http::StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["told"], 1);
    let reply = post(&app, "/api/workers/nobody/quiet", json!({})).await;
    assert_eq!(reply.status, axum::http::StatusCode::NOT_FOUND);
    let reply = post(&app, "/api/workers/w-1/explode", json!({})).await;
    assert_eq!(reply.status, axum::http::StatusCode::NOT_FOUND);
    assert_eq!(
        *told.lock().unwrap(),
        vec![
            ("w-1".to_string(), backlog_web::WorkerCommand::Terminate),
            ("nobody".to_string(), backlog_web::WorkerCommand::Quiet),
        ]
    );
}

fn app_with(db: &Db, control: backlog_web::WorkerControl) -> axum::Router {
    app(
        db,
        WebOptions {
            worker_control: Some(control),
            ..WebOptions::default()
        },
    )
}
