//! The runtime behaviours, each written once and run on both backends.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::storage::{JobFetchAvailableParams, JobListParams};
use backlog::{
    Backoff, Client, EnqueueError, InsertOpts, JobArgs, JobState, Priority, Runner, RunnerConfig,
    Workers,
};
use serde_json::json;

use crate::support::{wait_for, wait_for_n, Action, Db, Task, TaskWorker};

fn fast(config: &mut RunnerConfig) {
    config.maintenance_config.schedule_interval = Duration::from_millis(50);
    config.poll_interval = Duration::from_millis(200);
}

fn runner(db: &Db, worker: TaskWorker, max_workers: usize) -> Runner {
    Runner::builder(db.clone(), Workers::new().register(worker))
        .queue("default", max_workers)
        .configure(fast)
        .start()
        .expect("runner starts")
}

async fn row(db: &Db, id: i64) -> backlog::JobRow {
    db.job_get(id).await.unwrap().expect("job exists")
}

pub async fn runs_jobs_to_completion(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 10);
    let mut events = runner.subscribe();
    let ids = client
        .enqueue_many((0..50).map(|_| Task::ok()))
        .await
        .unwrap();
    wait_for_n(&mut events, 50, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    for id in ids {
        let r = row(&db, id).await;
        assert_eq!(r.state, JobState::Completed);
        assert_eq!(r.attempt, 1);
    }
}

pub async fn retries_with_backoff_then_succeeds(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let id = client
        .enqueue(Task {
            fail_times: 2,
            ..Task::ok()
        })
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.attempt, 3);
    assert_eq!(r.errors.len(), 2);
    assert_eq!(r.errors[0].attempt, 1);
    assert_eq!(r.errors[1].message, "failing on purpose, attempt 2");
    assert!(
        r.errors[1].at >= r.errors[0].at + chrono::Duration::milliseconds(15),
        "backoff of 20 ms respected"
    );
    assert_eq!(r.attempt_durations_us.len(), 3);
}

pub async fn discards_after_max_attempts(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let id = client
        .enqueue_with(
            Task {
                fail_times: 100,
                ..Task::ok()
            },
            InsertOpts::new().max_attempts(3),
        )
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Discarded).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.state, JobState::Discarded);
    assert_eq!(r.attempt, 3);
    assert_eq!(r.errors.len(), 3);
    assert!(r.finalized_at.is_some());
}

pub async fn panic_is_recorded_and_worker_survives(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 1);
    let mut events = runner.subscribe();
    let id = client
        .enqueue(Task {
            fail_times: 1,
            panic: true,
            ..Task::ok()
        })
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Completed).await;
    let next = client.enqueue(Task::ok()).await.unwrap();
    wait_for(&mut events, next, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].panicked);
    assert!(
        r.errors[0].message.contains("task blew up on attempt 1"),
        "{}",
        r.errors[0].message
    );
}

pub async fn snooze_does_not_spend_an_attempt(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runner = runner(&db, worker.clone(), 1);
    let mut events = runner.subscribe();
    let id = client
        .enqueue(Task {
            action: Action::SnoozeOnce,
            ..Task::ok()
        })
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Scheduled).await;
    wait_for(&mut events, id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.attempt, 1, "the snoozed run gave its attempt back");
    assert!(r.errors.is_empty());
    assert_eq!(worker.started.lock().unwrap().len(), 2, "ran twice");
}

pub async fn worker_can_discard_or_cancel(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let discard = client
        .enqueue(Task {
            action: Action::Discard,
            ..Task::ok()
        })
        .await
        .unwrap();
    let cancel = client
        .enqueue(Task {
            action: Action::Cancel,
            ..Task::ok()
        })
        .await
        .unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let e = events.recv().await.unwrap();
            seen.push((e.id, e.state));
        }
        seen.sort_unstable();
        seen
    })
    .await
    .unwrap();
    assert_eq!(
        finished,
        vec![
            (discard, Some(JobState::Discarded)),
            (cancel, Some(JobState::Cancelled))
        ]
    );
    runner.shutdown(Duration::from_secs(5)).await;
    let d = row(&db, discard).await;
    assert_eq!(d.attempt, 1, "discarded at once, attempts left unused");
    assert_eq!(d.errors[0].message, "not worth retrying");
    assert_eq!(row(&db, cancel).await.errors[0].message, "no longer needed");
}

pub async fn higher_priority_runs_first(db: Db) {
    let client = Client::from_arc(db.clone());
    let low = client
        .enqueue_with(Task::ok(), InsertOpts::new().priority(Priority::LOW))
        .await
        .unwrap();
    let normal = client.enqueue(Task::ok()).await.unwrap();
    let high = client
        .enqueue_with(Task::ok(), InsertOpts::new().priority(Priority::HIGH))
        .await
        .unwrap();
    let normal2 = client.enqueue(Task::ok()).await.unwrap();
    let worker = TaskWorker::default();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker.clone()))
        .queue(
            "default",
            backlog::QueueConfig {
                max_workers: 1,
                fetch_batch: Some(1),
                prefetch: backlog::Prefetch::Off,
                backoff: backlog::Backoff::Inherit,
            },
        )
        .configure(fast)
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    wait_for(&mut events, low, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        *worker.started.lock().unwrap(),
        vec![high, normal, normal2, low]
    );
}

pub async fn scheduled_jobs_run_on_time(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let enqueued = Instant::now();
    let id = client
        .enqueue_with(
            Task::ok(),
            InsertOpts::new().run_after(Duration::from_millis(400)),
        )
        .await
        .unwrap();
    assert_eq!(row(&db, id).await.state, JobState::Scheduled);
    wait_for(&mut events, id, JobState::Completed).await;
    let took = enqueued.elapsed();
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert!(
        r.attempted_at.unwrap() >= r.scheduled_at,
        "not started early"
    );
    assert!(took >= Duration::from_millis(390), "ran after {took:?}");
    assert!(took < Duration::from_secs(3), "ran late: {took:?}");
}

pub async fn per_queue_concurrency_limit(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runner = runner(&db, worker.clone(), 3);
    let mut events = runner.subscribe();
    client
        .enqueue_many((0..15).map(|_| Task {
            work_ms: 30,
            ..Task::ok()
        }))
        .await
        .unwrap();
    wait_for_n(&mut events, 15, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(worker.peak.load(Ordering::SeqCst), 3);
}

pub async fn process_wide_concurrency_limit(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker.clone()))
        .queue("a", 5)
        .queue("b", 5)
        .configure(|c| {
            fast(c);
            c.max_workers_total = Some(2);
        })
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    for q in ["a", "b"] {
        for _ in 0..6 {
            client
                .enqueue_with(
                    Task {
                        work_ms: 30,
                        ..Task::ok()
                    },
                    InsertOpts::new().queue(q),
                )
                .await
                .unwrap();
        }
    }
    wait_for_n(&mut events, 12, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(worker.peak.load(Ordering::SeqCst), 2);
}

pub async fn no_double_delivery_across_runners(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runners: Vec<_> = (0..3)
        .map(|i| {
            Runner::builder(db.clone(), Workers::new().register(worker.clone()))
                .queue(
                    "default",
                    backlog::QueueConfig {
                        max_workers: 20,
                        fetch_batch: Some(7),
                        prefetch: backlog::Prefetch::Fixed(5),
                        backoff: backlog::Backoff::Inherit,
                    },
                )
                .configure(|c| {
                    fast(c);
                    c.worker_id = format!("runner-{i}");
                })
                .start()
                .unwrap()
        })
        .collect();
    let mut events: Vec<_> = runners.iter().map(|r| r.subscribe()).collect();
    client
        .enqueue_many((0..400).map(|_| Task::ok()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while runners.iter().map(|r| r.stats().completed).sum::<u64>() < 400 {
        assert!(Instant::now() < deadline, "not all jobs completed");
        let [a, b, c] = events.as_mut_slice() else {
            unreachable!()
        };
        tokio::select! {
            _ = a.recv() => {}
            _ = b.recv() => {}
            _ = c.recv() => {}
        }
    }
    let total: u64 = runners.iter().map(|r| r.stats().fetched).sum();
    for r in runners {
        r.shutdown(Duration::from_secs(5)).await;
    }
    assert_eq!(total, 400, "each job fetched exactly once");
    let mut started = worker.started.lock().unwrap().clone();
    started.sort_unstable();
    let before = started.len();
    started.dedup();
    assert_eq!(before, started.len(), "no job ran twice");
    assert_eq!(started.len(), 400);
}

pub async fn graceful_shutdown_lets_jobs_finish(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runner = runner(&db, worker.clone(), 5);
    let id = client
        .enqueue(Task {
            work_ms: 300,
            ..Task::ok()
        })
        .await
        .unwrap();
    // Wait until it runs, then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.running.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    let report = runner.shutdown(Duration::from_secs(10)).await;
    assert_eq!(row(&db, id).await.state, JobState::Completed);
    assert_eq!(report.recorded.completed, 1, "{report:?}");
    assert!(report.interrupted.is_empty() && report.handed_back.is_empty());
}

pub async fn shutdown_deadline_hands_jobs_back(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let runner = runner(&db, worker.clone(), 5);
    let id = client
        .enqueue(Task {
            action: Action::Hang,
            ..Task::ok()
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.running.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    let report = runner.shutdown(Duration::from_millis(100)).await;
    assert_eq!(report.interrupted, vec![id], "{report:?}");
    assert_eq!(report.recorded.retried, 1);
    let r = row(&db, id).await;
    assert_eq!(
        r.state,
        JobState::Retryable,
        "handed back, not lost and not completed"
    );
    assert!(
        r.errors[0].message.contains("interrupted"),
        "{}",
        r.errors[0].message
    );
    assert!(r.lease_expires_at.is_none());
}

pub async fn timeout_fails_the_attempt(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker {
        timeout: Some(Duration::from_millis(100)),
        ..TaskWorker::default()
    };
    let runner = runner(&db, worker, 2);
    let mut events = runner.subscribe();
    let started = Instant::now();
    let id = client
        .enqueue_with(
            Task {
                action: Action::UntilCancelled,
                ..Task::ok()
            },
            InsertOpts::new().max_attempts(1),
        )
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Discarded).await;
    // The job stops on its token, well before the 5 s grace a job that ignored it would get.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    runner.shutdown(Duration::from_secs(5)).await;
    assert!(event.error.unwrap().contains("timed out after 100ms"));
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Orphan {}
impl JobArgs for Orphan {
    const KIND: &'static str = "orphan";
}

pub async fn unknown_kind_is_retried_with_a_clear_error(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let id = client.enqueue(Orphan {}).await.unwrap();
    let event = wait_for(&mut events, id, JobState::Retryable).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let message = event.error.unwrap();
    assert!(
        message.contains("unknown job kind `orphan`") && message.contains("task"),
        "{message}"
    );
}

pub async fn malformed_args_are_discarded(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let id = client
        .enqueue_raw("task", json!({"fail_times": "three"}), InsertOpts::new())
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Discarded).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let message = event.error.unwrap();
    assert!(
        message.contains("args do not decode as job kind `task`"),
        "{message}"
    );
}

pub async fn enqueue_rejects_bad_input_and_inserts_nothing(db: Db) {
    let client = Client::from_arc(db.clone());
    let bad_queue = client
        .enqueue_with(Task::ok(), InsertOpts::new().queue("Bad Queue"))
        .await;
    assert!(
        matches!(bad_queue, Err(EnqueueError::InvalidQueue(_))),
        "{bad_queue:?}"
    );
    let bad_kind = client
        .enqueue_raw("has space", json!({}), InsertOpts::new())
        .await;
    assert!(matches!(bad_kind, Err(EnqueueError::InvalidKind(_))));
    let huge = json!({ "blob": "x".repeat(1024 * 1024) });
    let too_big = client.enqueue_raw("task", huge, InsertOpts::new()).await;
    assert!(
        matches!(too_big, Err(EnqueueError::ArgsTooLarge { .. })),
        "{too_big:?}"
    );
    let zero = client
        .enqueue_with(Task::ok(), InsertOpts::new().max_attempts(0))
        .await;
    assert!(matches!(zero, Err(EnqueueError::InvalidOption(_))));
    let custom = client
        .enqueue_with(
            Task::ok(),
            InsertOpts::new().backoff(Backoff::custom(|_| Duration::ZERO)),
        )
        .await;
    assert!(matches!(custom, Err(EnqueueError::InvalidOption(_))));
    let metadata = client
        .enqueue_with(Task::ok(), InsertOpts::new().metadata(json!([1])))
        .await;
    assert!(matches!(metadata, Err(EnqueueError::InvalidOption(_))));
    // A batch with one bad job inserts none.
    let mut jobs = vec![client.prepare(&Task::ok(), InsertOpts::new()).unwrap()];
    assert!(client
        .prepare(&Task::ok(), InsertOpts::new().queue(""))
        .is_err());
    jobs[0].max_attempts = 0; // bypasses the client's check: the database refuses it
    assert!(client.insert_prepared(jobs).await.is_err());
    assert!(db
        .job_list(JobListParams::default())
        .await
        .unwrap()
        .is_empty());
    assert!(too_big_message_helps());
}

fn too_big_message_helps() -> bool {
    let e = EnqueueError::ArgsTooLarge {
        kind: "k".into(),
        size: 2,
        limit: 1,
    };
    e.to_string().contains("store large data elsewhere")
}

pub async fn stalled_job_is_rescued_and_run(db: Db) {
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Task::ok()).await.unwrap();
    // A worker claims it and dies without a word: nothing heartbeats its 1 s lease.
    let claimed = db
        .job_fetch_available(JobFetchAvailableParams {
            queue: "default".into(),
            max: 1,
            worker_id: "crashed-worker".into(),
            lease: Duration::from_secs(1),
            now: None,
            kinds: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(claimed[0].id, id);
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .configure(|c| {
            fast(c);
            c.maintenance_config.rescue_interval = Duration::from_millis(100);
        })
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    wait_for(&mut events, id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.attempt, 2);
    assert_eq!(r.attempted_by[0], "crashed-worker");
    assert!(r.errors[0].message.contains("lease expired"));
}

pub async fn wakes_on_insert_without_polling(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .configure(|c| c.poll_interval = Duration::from_secs(3600))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    // The runner's first fetch finds nothing; from then on only a wake-up can start a job.
    for _ in 0..3 {
        let started = Instant::now();
        let id = client.enqueue(Task::ok()).await.unwrap();
        wait_for(&mut events, id, JobState::Completed).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    runner.shutdown(Duration::from_secs(5)).await;
}

pub async fn records_who_ran_and_how_long(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .configure(fast)
        .worker_id("host-x:1")
        .lease(Duration::from_secs(20))
        .max_workers_total(4)
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let id = client
        .enqueue(Task {
            work_ms: 50,
            ..Task::ok()
        })
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    assert_eq!(r.attempted_by, vec!["host-x:1".to_string()]);
    assert!(
        r.attempt_durations_us[0] >= 50_000,
        "{:?}",
        r.attempt_durations_us
    );
    assert!(event.duration >= Duration::from_millis(50));
}

pub async fn per_job_backoff_overrides_the_kind(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = runner(&db, TaskWorker::default(), 2);
    let mut events = runner.subscribe();
    let id = client
        .enqueue_with(
            Task {
                fail_times: 1,
                ..Task::ok()
            },
            InsertOpts::new().backoff(Backoff::Fixed(Duration::from_secs(3600))),
        )
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Retryable).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = row(&db, id).await;
    let wait = r.scheduled_at - r.errors[0].at;
    assert!(
        wait > chrono::Duration::minutes(59),
        "per-job backoff of 1 h used, got {wait}"
    );
    let _ = Arc::new(());
}

/// Claiming ahead: with one slot and room for three more, one fetch claims four jobs; the three
/// waiting for the slot are handed back unstarted at shutdown (available again, attempt given
/// back), and one whose cancellation is requested while it waits is cancelled without running.
pub async fn claimed_ahead_jobs_wait_and_are_handed_back(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = TaskWorker::default();
    let ids = client
        .enqueue_many((0..5).map(|_| Task {
            action: Action::UntilCancelled,
            ..Task::ok()
        }))
        .await
        .unwrap();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker.clone()))
        .queue(
            "default",
            backlog::QueueConfig {
                prefetch: backlog::Prefetch::Fixed(3),
                ..backlog::QueueConfig::new(1)
            },
        )
        .configure(fast)
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.running.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first job starts");
        tokio::task::yield_now().await;
    }
    let running = |rows: &[backlog::JobRow]| {
        rows.iter()
            .filter(|r| r.state == JobState::Running)
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    let rows = db.job_list(JobListParams::default()).await.unwrap();
    assert_eq!(
        running(&rows).len(),
        4,
        "one slot and three claimed ahead: {rows:?}"
    );
    assert_eq!(*worker.started.lock().unwrap(), vec![ids[0]], "one runs");
    // Cancel one of those waiting: it ends cancelled without starting.
    client.job_cancel(ids[1]).await.unwrap();
    let mut events = runner.subscribe();
    if row(&db, ids[1]).await.state != JobState::Cancelled {
        wait_for(&mut events, ids[1], JobState::Cancelled).await;
    }
    let report = runner.shutdown(Duration::from_millis(200)).await;
    assert_eq!(*worker.started.lock().unwrap(), vec![ids[0]]);
    assert_eq!(report.handed_back, vec![ids[2], ids[3]], "{report:?}");
    assert_eq!(report.interrupted, vec![ids[0]], "{report:?}");
    assert!(report.is_clean());
    for id in &ids[2..4] {
        // Given back like a snooze of zero: due at once, keeping its run time (the scheduler
        // makes it available again).
        let r = row(&db, *id).await;
        assert!(
            matches!(r.state, JobState::Scheduled | JobState::Available) && r.attempt == 0,
            "job {id} handed back unstarted: {:?} attempt {}",
            r.state,
            r.attempt
        );
        assert!(r.scheduled_at <= chrono::Utc::now());
        assert!(r.errors.is_empty());
    }
    assert_eq!(
        row(&db, ids[4]).await.state,
        JobState::Available,
        "never claimed"
    );
    let cancelled = row(&db, ids[1]).await;
    assert_eq!(cancelled.errors[0].message, "cancelled before it started");
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Flaky {}
impl JobArgs for Flaky {
    const KIND: &'static str = "flaky";
}

/// Fails every attempt and names no backoff of its own: its queue's, else the runner's, apply.
struct FlakyWorker;

impl backlog::Worker for FlakyWorker {
    type Args = Flaky;
    async fn work(&self, _job: backlog::Job<Flaky>) -> Result<(), backlog::JobError> {
        Err(backlog::JobError::retry("always fails"))
    }
}

/// Backoff comes from the first level that names one: the job's, the worker's, the queue's,
/// then the runner's.
pub async fn backoff_falls_back_from_queue_to_runner(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(FlakyWorker))
        .queue(
            "slow",
            backlog::QueueConfig::new(2).backoff(Backoff::Fixed(Duration::from_secs(3600))),
        )
        .queue("default", 2)
        .backoff(Backoff::Fixed(Duration::from_secs(7200)))
        .configure(fast)
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let by_queue = client
        .enqueue_with(Flaky {}, InsertOpts::new().queue("slow"))
        .await
        .unwrap();
    let by_runner = client.enqueue(Flaky {}).await.unwrap();
    let by_job = client
        .enqueue_with(
            Flaky {},
            InsertOpts::new().backoff(Backoff::Fixed(Duration::from_secs(60))),
        )
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("three retries within 20 s")
            .unwrap();
        if event.state == Some(JobState::Retryable) {
            seen.insert(event.id);
        }
    }
    runner.shutdown(Duration::from_secs(5)).await;
    for (id, expected) in [(by_queue, 3600), (by_runner, 7200), (by_job, 60)] {
        let r = row(&db, id).await;
        let wait = (r.scheduled_at - r.errors[0].at).num_seconds();
        assert!(
            (expected - 2..=expected + 2).contains(&wait),
            "job {id}: waits {wait} s, expected {expected}"
        );
    }
}
