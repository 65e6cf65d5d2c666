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

/// Two handles on one SQLite file (two writer threads, as two processes would have) finish the
/// last two members of a batch and the last two dependencies of a job at the same moment:
/// exactly one callback, and the dependant released, every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_last_two_finish_in_two_writers() {
    use backlog::storage::{
        BatchAddParams, BatchCallback, BatchCreateParams, CallbackOn, JobFetchAvailableParams,
        JobFinish, JobFinishManyParams, JobInsert, JobOutcome, WorkflowDependency,
        WorkflowInsertParams,
    };
    use backlog::Storage;

    let one = backlog::sqlite::testing::test_storage().await.unwrap();
    let two = backlog::sqlite::SqliteStorage::open(one.path(), Default::default())
        .await
        .unwrap();
    let job = |queue: &str| JobInsert::new(queue, "member", serde_json::json!({}));
    let claim = |queue: &'static str| JobFetchAvailableParams {
        queue: queue.to_owned(),
        max: 2,
        worker_id: "w".to_owned(),
        lease: Duration::from_secs(60),
        now: None,
        kinds: Vec::new(),
    };
    let finish = |row: &backlog::JobRow| JobFinishManyParams {
        jobs: vec![JobFinish {
            id: row.id,
            lease_token: row.lease_token.unwrap(),
            outcome: JobOutcome::Completed,
            duration: Duration::ZERO,
            result: None,
        }],
    };
    for round in 0..8 {
        let batch = one
            .batch_create(BatchCreateParams {
                callback: Some(BatchCallback {
                    queue: "callbacks".to_owned(),
                    kind: "done".to_owned(),
                    args: serde_json::json!({ "round": round }),
                    priority: 0,
                    max_attempts: 1,
                    on: CallbackOn::Complete,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        one.batch_add(BatchAddParams {
            batch,
            jobs: vec![job("members"), job("members")],
        })
        .await
        .unwrap();
        one.batch_seal(batch).await.unwrap();
        let workflow = one
            .workflow_insert(WorkflowInsertParams {
                name: "race".to_owned(),
                jobs: vec![job("deps"), job("deps"), job("sink")],
                dependencies: vec![
                    WorkflowDependency {
                        job: 2,
                        depends_on: 0,
                        on_failure: Default::default(),
                    },
                    WorkflowDependency {
                        job: 2,
                        depends_on: 1,
                        on_failure: Default::default(),
                    },
                ],
                idempotency_key: None,
            })
            .await
            .unwrap();
        let members = one.job_fetch_available(claim("members")).await.unwrap();
        let deps = one.job_fetch_available(claim("deps")).await.unwrap();
        assert_eq!((members.len(), deps.len()), (2, 2), "round {round}");
        tokio::join!(
            async {
                one.job_finish_many(finish(&members[0])).await.unwrap();
                one.job_finish_many(finish(&deps[0])).await.unwrap();
            },
            async {
                two.job_finish_many(finish(&members[1])).await.unwrap();
                two.job_finish_many(finish(&deps[1])).await.unwrap();
            }
        );
        let callbacks = one
            .job_list(backlog::JobListParams {
                kind: Some("done".to_owned()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.args["round"] == round)
            .count();
        assert_eq!(callbacks, 1, "round {round}");
        let sink = one.job_get(workflow.job_ids[2]).await.unwrap().unwrap();
        assert_eq!(sink.state, JobState::Available, "round {round}");
    }
}
