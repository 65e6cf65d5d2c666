//! The runtime's side of fencing: a retried outcome write whose first reply was lost.

use std::sync::Arc;
use std::time::Duration;

use backlog::{Client, EnqueueError, InsertOpts, JobState, Runner, Workers};

use crate::faulty::{Fault, Faulty};
use crate::support::{wait_for, Db, Task, TaskWorker};

/// The completer's first write commits but its reply is lost; the retry is recognised as
/// already applied: the job counts as completed, not as a rejected (fenced) outcome.
pub async fn retried_outcome_is_already_applied(db: Db) {
    let flaky: Db = Arc::new(Faulty::new(db.clone(), Fault::LostFirstReply));
    let runner = Runner::builder(flaky, Workers::new().register(TaskWorker::default()))
        .queue("default", 1)
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let id = Client::from_arc(db.clone())
        .enqueue(Task::ok())
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Completed).await;
    assert_eq!(event.state, Some(JobState::Completed));
    let stats = runner.stats();
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.completed, stats.fenced), (1, 0), "{stats:?}");
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(row.attempt_durations_us.len(), 1, "applied once");
}

/// A heartbeat that took its list of held jobs just before a job's outcome committed does not
/// report that job as lost (no false alarm, nothing stopped).
pub async fn heartbeat_racing_an_outcome_is_no_loss(db: Db) {
    let faulty = Arc::new(Faulty::new(db.clone(), Fault::FinishRacesHeartbeat));
    let mut beats = faulty.beats.subscribe();
    let racing: Db = faulty;
    let runner = Runner::builder(racing, Workers::new().register(TaskWorker::default()))
        .queue("default", 1)
        .configure(|config| config.lease = Duration::from_millis(300))
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Task::ok()).await.unwrap();
    wait_for(&mut events, id, JobState::Completed).await;
    // A second, longer job keeps the heartbeater going: once its next heartbeat starts, the
    // racing heartbeat's answer has been handled.
    let slow = Task {
        work_ms: 1_000,
        ..Task::ok()
    };
    let second = client.enqueue(slow).await.unwrap();
    let racing_beat = *beats.borrow();
    tokio::time::timeout(
        Duration::from_secs(10),
        beats.wait_for(|n| *n > racing_beat),
    )
    .await
    .expect("another heartbeat")
    .unwrap();
    let stats = runner.stats();
    wait_for(&mut events, second, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.completed, stats.leases_lost), (1, 0), "{stats:?}");
}

/// The first enqueue commits but its reply is lost (outcome unknown); the retry with the same
/// idempotency key returns the stored job as a duplicate and inserts nothing.
pub async fn retried_enqueue_with_the_same_key_returns_the_job(db: Db) {
    let flaky: Db = Arc::new(Faulty::new(db.clone(), Fault::LostFirstInsertReply));
    let client = Client::from_arc(flaky);
    let key = backlog::new_idempotency_key();
    let opts = || InsertOpts::new().idempotency_key(key.clone());
    let first = client.enqueue_unique(Task::ok(), opts()).await;
    let err = first.expect_err("the first reply is lost");
    assert!(matches!(err, EnqueueError::OutcomeUnknown(_)), "{err}");
    assert!(err.to_string().contains("same idempotency key"), "{err}");
    let retry = client.enqueue_unique(Task::ok(), opts()).await.unwrap();
    assert!(retry.duplicate, "the retry found the first job");
    let jobs = db.job_list(Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 1, "one job stored");
    assert_eq!(jobs[0].id, retry.id);
}
