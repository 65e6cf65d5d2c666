//! A cancellation written by another process reaches a running SQLite job within about a
//! second, though SQLite has no cross-process signal: the runner polls for it.

use std::time::{Duration, Instant};

use backlog::{Client, JobState, Runner, Workers};

use crate::support::{wait_for, Action, Task, TaskWorker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cancel_from_another_process_is_seen_within_seconds() {
    let sq = backlog::sqlite::testing::test_storage().await.unwrap();
    let path = sq.path().to_owned();
    let storage: std::sync::Arc<dyn backlog::Storage> = std::sync::Arc::new(sq);
    let client = Client::from_arc(storage.clone());
    let worker = TaskWorker::default();
    let runner = Runner::builder(storage.clone(), Workers::new().register(worker.clone()))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let id = client
        .enqueue(Task {
            action: Action::UntilCancelled,
            ..Task::ok()
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.running.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::task::yield_now().await;
    }
    // Another process: a plain connection, no in-process signal.
    let requested = Instant::now();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "UPDATE backlog_job SET cancel_requested_at = '2026-01-01T00:00:00.000000Z' WHERE id = ?1",
        [id],
    )
    .unwrap();
    drop(conn);
    wait_for(&mut events, id, JobState::Cancelled).await;
    let took = requested.elapsed();
    runner.shutdown(Duration::from_secs(5)).await;
    // The heartbeat alone would take 10 s (a third of the 30 s lease).
    assert!(took < Duration::from_secs(4), "seen after {took:?}");
}
