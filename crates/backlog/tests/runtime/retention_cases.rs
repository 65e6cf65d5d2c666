//! Retention, archiving, dead letters and per-job timeouts, on both backends.

use std::time::Duration;

use backlog::maintenance::Retention;
use backlog::{Client, InsertOpts, JobState, Runner, Workers};

use crate::support::{eventually, wait_for, Action, Db, Task, TaskWorker};

pub async fn cleaner_archives_finished_jobs(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .configure(|c| {
            c.maintenance_config.clean_interval = Duration::from_millis(50);
            c.maintenance_config.retention = Retention {
                completed: Some(Duration::ZERO),
                cancelled: None,
                discarded: None,
                archive: true,
            };
        })
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let mut dead_events = runner.subscribe();
    let done = client.enqueue(Task::ok()).await.unwrap();
    let dead = client
        .enqueue_with(
            Task {
                action: Action::Discard,
                ..Task::ok()
            },
            InsertOpts::new(),
        )
        .await
        .unwrap();
    wait_for(&mut events, done, JobState::Completed).await;
    wait_for(&mut dead_events, dead, JobState::Discarded).await;
    eventually("the completed job is archived", || async {
        client.job_get(done).await.unwrap().is_none()
    })
    .await;
    runner.shutdown(Duration::from_secs(5)).await;
    let archived = client
        .job_archive_get(done)
        .await
        .unwrap()
        .expect("archived");
    assert_eq!(archived.state, JobState::Completed);
    let kept = client
        .job_get(dead)
        .await
        .unwrap()
        .expect("discarded jobs are kept (no retention)");
    assert_eq!(kept.state, JobState::Discarded);
}

pub async fn dead_letters_can_be_listed_retried_and_purged(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let a = client
        .enqueue_with(
            Task {
                fail_times: 1,
                ..Task::ok()
            },
            InsertOpts::new().max_attempts(1),
        )
        .await
        .unwrap();
    wait_for(&mut events, a, JobState::Discarded).await;
    let b = client
        .enqueue_with(
            Task {
                action: Action::Discard,
                ..Task::ok()
            },
            InsertOpts::new(),
        )
        .await
        .unwrap();
    wait_for(&mut events, b, JobState::Discarded).await;

    let dead = client.discarded_list(10, None).await.unwrap();
    assert_eq!(dead.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b, a]);
    assert_eq!(dead[1].errors[0].message, "failing on purpose, attempt 1");

    // Retry one: it gets another attempt and now succeeds.
    assert_eq!(client.job_retry_many(vec![a]).await.unwrap(), vec![a]);
    wait_for(&mut events, a, JobState::Completed).await;
    assert_eq!(client.job_purge_many(vec![b]).await.unwrap(), vec![b]);
    assert!(client.discarded_list(10, None).await.unwrap().is_empty());
    runner.shutdown(Duration::from_secs(5)).await;
}

pub async fn per_job_timeout_overrides_the_kind(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker {
        timeout: Some(Duration::from_secs(3600)),
        ..TaskWorker::default()
    };
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let id = client
        .enqueue_with(
            Task {
                action: Action::UntilCancelled,
                ..Task::ok()
            },
            InsertOpts::new()
                .timeout(Duration::from_millis(100))
                .max_attempts(1),
        )
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Discarded).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert!(event.error.unwrap().contains("timed out after 100ms"));
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.timeout_ms, Some(100), "stored in its own column");
    assert_eq!(
        row.metadata,
        serde_json::json!({}),
        "not in the user's metadata"
    );
    assert_eq!(row.errors[0].kind.as_deref(), Some("timeout"));
}

/// A job not started by its expiry time is discarded with the kind `expired`, without running;
/// one that has not expired runs.
pub async fn expired_jobs_are_discarded_not_run(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let started = worker.started.clone();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let expired = client
        .enqueue_with(
            Task::ok(),
            InsertOpts::new().expires_at(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .await
        .unwrap();
    let fresh = client
        .enqueue_with(
            Task::ok(),
            InsertOpts::new().expires_after(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    // The two outcomes may be recorded in one batch, in either order.
    let mut ended = Vec::new();
    while ended.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("both jobs end within 20 s")
            .unwrap();
        if let Some(state) = event.state.filter(|s| s.is_finalized()) {
            ended.push((event.id, state, event.error));
        }
    }
    runner.shutdown(Duration::from_secs(5)).await;
    ended.sort_by_key(|e| e.0);
    assert_eq!(ended[0].0, expired);
    assert_eq!(ended[0].1, JobState::Discarded);
    assert!(ended[0]
        .2
        .as_deref()
        .unwrap_or_default()
        .contains("expired"));
    assert_eq!(ended[1].0, fresh);
    assert_eq!(ended[1].1, JobState::Completed);
    let row = db.job_get(expired).await.unwrap().unwrap();
    assert_eq!(row.errors.len(), 1);
    assert_eq!(row.errors[0].kind.as_deref(), Some("expired"));
    assert!(row.expires_at.is_some());
    assert_eq!(
        *started.lock().unwrap(),
        vec![fresh],
        "only the fresh job ran"
    );
}

/// The cleaner forgets idempotency keys whose window has ended, even with no job retention,
/// and leaves their jobs alone.
pub async fn cleaner_forgets_expired_idempotency_keys(db: Db) {
    use backlog::storage::{IdempotencyInsert, JobInsert, JobInsertManyParams};

    let two_hours_ago = db.now().await.unwrap() - chrono::Duration::hours(2);
    let keyed = |now| {
        let mut job = JobInsert::new("idle", "task", serde_json::json!({}));
        job.idempotency = Some(IdempotencyInsert {
            key: "old".to_owned(),
            window: Duration::from_secs(3600),
            now: Some(now),
        });
        JobInsertManyParams { jobs: vec![job] }
    };
    let first = db.job_insert_many(keyed(two_hours_ago)).await.unwrap()[0];
    // Seen from within the window, the key is still there until the cleaner forgets it.
    let within = two_hours_ago + chrono::Duration::minutes(30);
    let repeat = db.job_insert_many(keyed(within)).await.unwrap()[0];
    assert_eq!((repeat.id, repeat.duplicate), (first.id, true));
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .configure(|c| {
            c.maintenance_config.clean_interval = Duration::from_millis(50);
            c.maintenance_config.retention = Retention {
                completed: None,
                cancelled: None,
                discarded: None,
                archive: false,
            };
        })
        .start()
        .unwrap();
    eventually("the expired key is forgotten", || async {
        !db.job_insert_many(keyed(within)).await.unwrap()[0].duplicate
    })
    .await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert!(
        db.job_get(first.id).await.unwrap().is_some(),
        "the job is kept"
    );
}
