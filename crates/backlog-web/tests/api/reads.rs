use std::time::Duration;

use axum::http::StatusCode;
use backlog::{Runner, RunnerConfig, Workers};
use backlog_storage::JobOutcome;
use backlog_web::WebOptions;
use serde_json::{json, Value};

use crate::support::{app, enqueue, get, post, run_one, Db};

pub async fn list_filters_and_pages(db: Db) {
    let a = enqueue(
        &db,
        "mail",
        "send",
        json!({"user": {"id": 42}, "to": "ada"}),
    )
    .await;
    let b = enqueue(&db, "mail", "send", json!({"user": {"id": 7}})).await;
    let c = enqueue(&db, "media", "resize", json!({})).await;
    let app = app(&db, WebOptions::default());

    let ids = |r: &crate::support::Reply| -> Vec<i64> {
        r.json()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&get(&app, "/api/jobs").await), vec![c, b, a]);
    assert_eq!(ids(&get(&app, "/api/jobs?queue=mail").await), vec![b, a]);
    assert_eq!(
        ids(&get(&app, "/api/jobs?kind=resize,send&state=available").await),
        vec![c, b, a]
    );
    assert_eq!(ids(&get(&app, "/api/jobs?args.user.id=42").await), vec![a]);
    assert_eq!(
        ids(&get(&app, "/api/jobs?id=1000000").await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&get(&app, "/api/jobs?state=completed").await),
        Vec::<i64>::new()
    );

    // Keyset pages: the reply carries the next page's shareable query.
    let first = get(&app, "/api/jobs?queue=mail&limit=1").await.json();
    assert_eq!(first["jobs"][0]["id"], json!(b));
    let next = first["next_query"].as_str().unwrap().to_owned();
    assert!(
        next.contains("queue=mail") && next.contains(&format!("before={b}")),
        "{next}"
    );
    let second = get(&app, &format!("/api/jobs?{next}")).await.json();
    assert_eq!(second["jobs"][0]["id"], json!(a));
    let last = get(&app, &format!("/api/jobs?queue=mail&limit=1&before={a}"))
        .await
        .json();
    assert_eq!(last["jobs"], json!([]));
    assert_eq!(last["next_query"], json!(null));
}

pub async fn bad_filters_are_400_with_a_reason(db: Db) {
    let app = app(&db, WebOptions::default());
    for (query, reason) in [
        ("state=done", "unknown job state `done`"),
        ("colour=red", "unknown filter parameter `colour`"),
        ("limit=100000", "out of range"),
        ("created_after=yesterday", "RFC 3339"),
        ("priority=high", "priority"),
    ] {
        let r = get(&app, &format!("/api/jobs?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        let body = r.json();
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{query}: {body}"
        );
    }
    let r = get(&app, "/api/jobs/123456789").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    assert_eq!(get(&app, "/api/overview?range=week").await.status, 400);
}

pub async fn job_detail_has_history(db: Db) {
    let id = enqueue(&db, "q", "k", json!({"n": 1})).await;
    run_one(
        &db,
        "q",
        JobOutcome::Retry {
            failure: backlog_storage::Failure::error("first failure"),
            delay: Duration::ZERO,
        },
    )
    .await;
    db.job_schedule(backlog_storage::JobScheduleParams { now: None, max: 10 })
        .await
        .unwrap();
    let backtrace = "Traceback (most recent call last):\n  File \"w.py\", line 9, in work\n    raise ValueError(\"<b>no</b>\")";
    run_one(
        &db,
        "q",
        JobOutcome::Discard {
            failure: backlog_storage::Failure {
                backtrace: Some(backtrace.into()),
                ..backlog_storage::Failure::error("second failure").with_kind("ValueError")
            },
        },
    )
    .await;
    let app = app(&db, WebOptions::default());
    let page = get(&app, &format!("/jobs/{id}")).await.body;
    assert!(page.contains("ValueError"), "the kind is shown");
    assert!(page.contains("Backtrace"), "the backtrace is shown");
    assert!(
        page.contains("line 9, in work") && !page.contains("<b>no</b>"),
        "the backtrace is shown, escaped"
    );
    let body = get(&app, &format!("/api/jobs/{id}")).await.json();
    assert_eq!(body["attempts"][1]["error_kind"], "ValueError");
    assert_eq!(body["attempts"][1]["backtrace"], backtrace);
    assert_eq!(body["attempts"][0]["error_kind"], Value::Null);
    assert_eq!(body["job"]["state"], "discarded");
    assert_eq!(body["archived"], false);
    let attempts = body["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["error"], "first failure");
    assert_eq!(attempts[1]["error"], "second failure");
    assert_eq!(attempts[1]["worker"], "test-worker");
    assert_eq!(attempts[1]["duration_ms"], 12.0);
}

pub async fn overview_counts_and_history(db: Db) {
    enqueue(&db, "q", "k", json!({})).await;
    enqueue(&db, "q", "k", json!({})).await;
    run_one(&db, "q", JobOutcome::Completed).await;
    let app = app(&db, WebOptions::default());
    let body = get(&app, "/api/overview").await.json();
    assert_eq!(body["counts"]["available"], 1);
    assert_eq!(body["counts"]["completed"], 1);
    assert_eq!(body["queues"][0]["name"], "q");
    assert!(body["queues"][0]["latency_secs"].as_f64().unwrap() >= 0.0);
    let history = body["history"].as_array().unwrap();
    assert!(history.len() >= 60, "a point per minute");
    let completed: u64 = history
        .iter()
        .map(|p| p["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(completed, 1);
    let day = get(&app, "/api/overview?range=day").await.json();
    let points = day["history"].as_array().unwrap();
    assert!((24..=26).contains(&points.len()), "{}", points.len());
    assert_eq!(
        points
            .iter()
            .map(|p| p["completed"].as_u64().unwrap())
            .sum::<u64>(),
        1
    );
}

#[derive(serde::Serialize, serde::Deserialize)]
struct NoopArgs {}

impl backlog::JobArgs for NoopArgs {
    const KIND: &'static str = "noop";
}

struct Noop;

impl backlog::Worker for Noop {
    type Args = NoopArgs;
    async fn work(&self, _job: backlog::Job<NoopArgs>) -> Result<(), backlog::JobError> {
        Ok(())
    }
}

pub async fn workers_lists_running_runners(db: Db) {
    let runner = Runner::builder(db.clone(), Workers::new().register(Noop))
        .config(RunnerConfig {
            maintenance: false,
            ..RunnerConfig::default()
        })
        .queue("mail", 3)
        .start()
        .unwrap();
    let id = runner.worker_id().to_owned();
    let app = app(&db, WebOptions::default());
    let mut registered = runner.registration();
    registered.wait_for(|r| *r).await.unwrap();
    let body = get(&app, "/api/workers").await.json();
    let found = body["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .cloned();
    let w = found.expect("the runner registered itself");
    assert_eq!(w["queues"], json!([["mail", 3]]));
    assert_eq!(w["capacity"], 3);
    assert_eq!(w["origin"], "in_process");
    assert_eq!(w["kinds"], json!(["noop"]));
    assert_eq!(w["pid"], std::process::id());
    runner.shutdown(Duration::from_secs(5)).await;
    let body = get(&app, "/api/workers").await.json();
    assert!(
        body["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["id"] != id),
        "removed at shutdown"
    );
}

pub async fn health_and_metrics(db: Db) {
    let handle = crate::support::prometheus();
    enqueue(&db, "metrics_q", "k", json!({})).await;
    let app = app(
        &db,
        WebOptions {
            metrics: Some(handle.clone()),
            ..WebOptions::default()
        },
    );
    let live = get(&app, "/health/live").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "ok");
    let ready = get(&app, "/health/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["database"], "ok");
    let scrape = get(&app, "/metrics").await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = scrape.body;
    assert!(
        text.contains(r#"backlog_queue_depth{queue="metrics_q",state="available"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"backlog_queue_oldest_available_age_seconds{queue="metrics_q"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"backlog_jobs_enqueued_total{queue="metrics_q",kind="k"}"#),
        "{text}"
    );
    assert!(
        text.contains("backlog_workers{origin=\"in_process\"}"),
        "{text}"
    );
    assert!(
        !text.contains("job_id") && !text.contains("worker_id"),
        "no id labels"
    );
    // The depth gauges count the unfinished states only, and a queue whose jobs all finished
    // reads 0 (the recorder is shared by the test binary: one queue per backend).
    let queue = format!("metrics_done_{}", db.backend_name());
    enqueue(&db, &queue, "k", json!({})).await;
    // A new router's first scrape waits for its count (later ones get the cached value).
    let series = |state: &str| format!(r#"backlog_queue_depth{{queue="{queue}",state="{state}"}}"#);
    let text = get(&app_with_metrics(&db, handle.clone()), "/metrics")
        .await
        .body;
    assert!(
        text.contains(&format!("{} 1", series("available"))),
        "{text}"
    );
    run_one(&db, &queue, JobOutcome::Completed).await;
    let text = get(&app_with_metrics(&db, handle), "/metrics").await.body;
    assert!(
        text.contains(&format!("{} 0", series("available"))),
        "{text}"
    );
    assert!(text.contains(&format!("{} 0", series("running"))), "{text}");
    assert!(!text.contains(&series("completed")), "{text}");
    // Without a recorder, /metrics says how to get one.
    let plain = crate::support::app(&db, WebOptions::default());
    let r = get(&plain, "/metrics").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("WebOptions::metrics"));
}

/// Workflows and batches are listed and shown, with each workflow job's dependencies.
pub async fn workflows_and_batches(db: Db) {
    use backlog_storage::{
        BatchCreateParams, DependencyFailure, JobInsert, WorkflowDependency, WorkflowInsertParams,
    };
    let workflow = db
        .workflow_insert(WorkflowInsertParams {
            name: "etl".to_owned(),
            jobs: vec![
                JobInsert::new("default", "extract", serde_json::json!({"day": 1})),
                JobInsert::new("default", "load", serde_json::json!({})),
            ],
            dependencies: vec![WorkflowDependency {
                job: 1,
                depends_on: 0,
                on_failure: DependencyFailure::Cancel,
            }],
            idempotency_key: None,
        })
        .await
        .unwrap();
    let batch = db
        .batch_create(BatchCreateParams {
            description: "import".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let app = app(&db, WebOptions::default());
    let list = get(&app, "/api/workflows?limit=10").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let list = list.json();
    assert_eq!(list["workflows"][0]["name"], "etl");
    assert_eq!(list["workflows"][0]["waiting"], 1);
    let shown = get(&app, &format!("/api/workflows/{}", workflow.id))
        .await
        .json();
    assert_eq!(shown["jobs"][1]["depends_on"][0], workflow.job_ids[0]);
    assert_eq!(shown["jobs"][0]["args"]["day"], 1);
    assert_eq!(
        get(&app, "/api/workflows/999").await.status,
        StatusCode::NOT_FOUND
    );
    let batches = get(&app, "/api/batches").await.json();
    assert_eq!(batches["batches"][0]["id"], batch);
    assert_eq!(batches["batches"][0]["status"], "open");
    let one = get(&app, &format!("/api/batches/{batch}")).await.json();
    assert_eq!(one["description"], "import");
    assert_eq!(
        get(&app, "/api/batches/999").await.status,
        StatusCode::NOT_FOUND
    );

    // The pages: the list links the workflow; its page lists the jobs and their dependencies.
    let page = get(&app, "/workflows").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!("/workflows/{}", workflow.id)),
        "{}",
        page.body
    );
    assert!(page.body.contains("etl") && page.body.contains("import"));
    let page = get(&app, &format!("/workflows/{}", workflow.id)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for id in &workflow.job_ids {
        assert!(page.body.contains(&format!("/jobs/{id}")), "{}", page.body);
    }
    assert!(page.body.contains("extract") && page.body.contains("load"));
    assert_eq!(
        get(&app, "/workflows/999").await.status,
        StatusCode::NOT_FOUND
    );

    // Cancelling the whole workflow from the dashboard's API.
    let r = post(
        &app,
        &format!("/api/workflows/{}/cancel", workflow.id),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["cancelled"].as_array().map(Vec::len), Some(2));
    for id in &workflow.job_ids {
        assert_eq!(
            db.job_get(*id).await.unwrap().unwrap().state,
            backlog::JobState::Cancelled
        );
    }
    let r = post(
        &app,
        &format!("/api/workflows/{}/retry", workflow.id),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.json()["retried"].as_array().unwrap().is_empty());
    let r = post(
        &app,
        &format!("/api/workflows/{}/explode", workflow.id),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A new router with metrics: its first scrape reads the database.
fn app_with_metrics(
    db: &Db,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> axum::Router {
    app(
        db,
        WebOptions {
            metrics: Some(handle),
            ..WebOptions::default()
        },
    )
}
