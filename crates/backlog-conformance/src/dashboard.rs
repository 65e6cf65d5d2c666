//! The methods behind the HTTP API and dashboard: the job search, throughput history, queue
//! latency and the worker registry.

use backlog_storage::{
    Failure, JobOutcome, JobSearchParams, JobThroughputParams, JsonMatch, WorkerHeartbeatParams,
    WorkerListParams,
};
use backlog_types::{JobId, JobState};
use chrono::{Duration, Utc};
use serde_json::json;

use crate::support::{fetch, finalize, insert, job, Db};

async fn search(db: &Db, params: JobSearchParams) -> Vec<JobId> {
    let params = JobSearchParams {
        limit: if params.limit == 0 { 100 } else { params.limit },
        ..params
    };
    db.job_search(params)
        .await
        .expect("search")
        .into_iter()
        .map(|row| row.id)
        .collect()
}

/// Every criterion narrows the result; results are newest first and paginate by id.
pub async fn search_filters_and_paginates(db: Db) {
    let mut a = job("mail", "send");
    a.args = json!({"to": "ada@example.com", "n": 5, "nested": {"ok": true}}).into();
    a.tags = vec!["vip".into(), "eu".into()];
    a.priority = 3;
    a.metadata = json!({"tenant": "acme"});
    let mut b = job("mail", "bounce");
    b.args = json!({"to": "bob@example.com", "n": "5"}).into();
    b.tags = vec!["eu".into()];
    b.fingerprint = Some("fp-1".into());
    let c = job("media", "resize");
    let ids = insert(&db, vec![a, b, c]).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);

    assert_eq!(search(&db, JobSearchParams::default()).await, vec![c, b, a]);
    let by = |p: JobSearchParams| search(&db, p);
    assert_eq!(
        by(JobSearchParams {
            queues: vec!["mail".into()],
            ..Default::default()
        })
        .await,
        vec![b, a]
    );
    assert_eq!(
        by(JobSearchParams {
            kinds: vec!["resize".into(), "send".into()],
            ..Default::default()
        })
        .await,
        vec![c, a]
    );
    assert_eq!(
        by(JobSearchParams {
            ids: vec![a, c],
            ..Default::default()
        })
        .await,
        vec![c, a]
    );
    assert_eq!(
        by(JobSearchParams {
            priority: Some(3),
            ..Default::default()
        })
        .await,
        vec![a]
    );
    assert_eq!(
        by(JobSearchParams {
            tags: vec!["eu".into()],
            ..Default::default()
        })
        .await,
        vec![b, a]
    );
    assert_eq!(
        by(JobSearchParams {
            tags: vec!["eu".into(), "vip".into()],
            ..Default::default()
        })
        .await,
        vec![a]
    );
    assert_eq!(
        by(JobSearchParams {
            fingerprint: Some("fp-1".into()),
            ..Default::default()
        })
        .await,
        vec![b]
    );
    assert_eq!(
        by(JobSearchParams {
            states: vec![JobState::Available],
            before_id: Some(c),
            limit: 1,
            ..Default::default()
        })
        .await,
        vec![b]
    );
    let json_match = |path: &[&str], value| JsonMatch {
        path: path.iter().map(|s| s.to_string()).collect(),
        value,
    };
    assert_eq!(
        by(JobSearchParams {
            args: Some(json_match(&["to"], json!("ada@example.com"))),
            ..Default::default()
        })
        .await,
        vec![a]
    );
    // Compared as JSON: the number 5 and the string "5" differ.
    assert_eq!(
        by(JobSearchParams {
            args: Some(json_match(&["n"], json!(5))),
            ..Default::default()
        })
        .await,
        vec![a]
    );
    assert_eq!(
        by(JobSearchParams {
            args: Some(json_match(&["n"], json!("5"))),
            ..Default::default()
        })
        .await,
        vec![b]
    );
    assert_eq!(
        by(JobSearchParams {
            args: Some(json_match(&["nested", "ok"], json!(true))),
            ..Default::default()
        })
        .await,
        vec![a]
    );
    assert_eq!(
        by(JobSearchParams {
            metadata: Some(json_match(&["tenant"], json!("acme"))),
            ..Default::default()
        })
        .await,
        vec![a]
    );
    let now = Utc::now();
    assert_eq!(
        by(JobSearchParams {
            created_after: Some(now + Duration::hours(1)),
            ..Default::default()
        })
        .await,
        Vec::<JobId>::new()
    );
    assert_eq!(
        by(JobSearchParams {
            created_before: Some(now + Duration::hours(1)),
            ..Default::default()
        })
        .await
        .len(),
        3
    );
}

/// Finalized jobs are counted per minute and final state.
pub async fn throughput_counts_finalized_jobs(db: Db) {
    insert(&db, vec![job("q", "k"), job("q", "k"), job("q", "k")]).await;
    let rows = fetch(&db, "q", 3).await;
    finalize(
        &db,
        &rows,
        vec![
            JobOutcome::Completed,
            JobOutcome::Completed,
            JobOutcome::Discard {
                failure: Failure::error("boom"),
            },
        ],
    )
    .await;
    let since = Utc::now() - Duration::hours(1);
    let buckets = db
        .job_throughput(JobThroughputParams { since })
        .await
        .unwrap();
    let total = |state| {
        buckets
            .iter()
            .filter(|b| b.state == state)
            .map(|b| b.count)
            .sum::<u64>()
    };
    assert_eq!(total(JobState::Completed), 2);
    assert_eq!(total(JobState::Discarded), 1);
    for bucket in &buckets {
        assert_eq!(bucket.minute.timestamp() % 60, 0, "{bucket:?}");
        assert!(bucket.minute >= since - Duration::minutes(1));
    }
    let later = db
        .job_throughput(JobThroughputParams {
            since: Utc::now() + Duration::hours(1),
        })
        .await
        .unwrap();
    assert!(later.is_empty());
}

/// Each queue with available jobs reports its oldest one.
pub async fn queue_latency_reports_oldest_available(db: Db) {
    // The oldest job of queue `a` has the lowest priority: it is not the next to run, and the
    // latency must still be its age.
    let mut old = job("a", "k");
    old.scheduled_at = Some(Utc::now() - Duration::minutes(10));
    old.priority = -10;
    let mut urgent = job("a", "k");
    urgent.scheduled_at = Some(Utc::now() - Duration::minutes(1));
    urgent.priority = 10;
    insert(&db, vec![old, urgent, job("a", "k"), job("b", "k")]).await;
    let mut future = job("c", "k");
    future.scheduled_at = Some(Utc::now() + Duration::hours(1));
    insert(&db, vec![future]).await;
    let latency = db.queue_latency().await.unwrap();
    let names: Vec<&str> = latency.iter().map(|l| l.queue.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let age = Utc::now() - latency[0].oldest_available_at;
    assert!(age >= Duration::minutes(9), "{age}");
}

fn report(id: &str, in_flight: u32) -> WorkerHeartbeatParams {
    WorkerHeartbeatParams {
        id: id.into(),
        host: "host-1".into(),
        pid: 42,
        kinds: vec!["send".into(), "resize".into()],
        queues: vec![("default".into(), 10), ("media".into(), 2)],
        capacity: 12,
        in_flight,
        origin: "in_process".into(),
        now: None,
    }
}

/// Workers register, refresh their report, age out of the list and remove themselves.
pub async fn workers_register_refresh_and_leave(db: Db) {
    let t0 = Utc::now() - Duration::minutes(5);
    db.worker_heartbeat(WorkerHeartbeatParams {
        now: Some(t0),
        ..report("w1", 1)
    })
    .await
    .unwrap();
    db.worker_heartbeat(report("w2", 0)).await.unwrap();
    let all = db
        .worker_list(WorkerListParams {
            seen_since: t0 - Duration::minutes(1),
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].report.queues, report("w1", 1).queues);
    assert_eq!(all[0].report.kinds, ["send", "resize"]);
    let recent = WorkerListParams {
        seen_since: Utc::now() - Duration::minutes(1),
    };
    let live = db.worker_list(recent).await.unwrap();
    assert_eq!(live.len(), 1, "w1's heartbeat is old");
    db.worker_heartbeat(report("w1", 7)).await.unwrap();
    let live = db.worker_list(recent).await.unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].report.in_flight, 7);
    assert!(live[0].started_at < live[0].heartbeat_at, "started_at kept");
    assert!(db.worker_delete("w1").await.unwrap());
    assert!(!db.worker_delete("w1").await.unwrap());
    assert_eq!(db.worker_list(recent).await.unwrap().len(), 1);
}
