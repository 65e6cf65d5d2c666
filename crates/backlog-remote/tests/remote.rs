//! A Rust remote worker and producer against a real server in this process, on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog::{Client, InsertOpts, Job, JobArgs, JobError, JobState, Worker, Workers};
use backlog_remote::{RemoteProducer, RemoteWorker};
use backlog_server::{Server, ServerConfig, ServerHooks};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

type Db = Client;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = backlog::Client::new(
                        backlog::sqlite::testing::test_storage().await.expect("sqlite"),
                    );
                    super::$name(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = backlog::Client::new(backlog::postgres::testing::test_storage().await);
                    super::$name(db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_remote_worker_runs_jobs_with_the_same_worker_trait,
    job_errors_map_onto_outcomes,
    cancellation_reaches_a_running_remote_job,
    the_capacity_is_never_exceeded,
    an_outcome_survives_a_server_restart_and_the_job_runs_once,
    the_producer_enqueues_and_a_resend_is_idempotent,
    the_producer_submits_workflows_and_batches,
);

fn server(db: &Db, endpoint: &str) -> Server {
    Server::start(
        db.clone(),
        ServerConfig {
            endpoint: endpoint.into(),
            heartbeat: Duration::from_millis(100),
            lease: Duration::from_secs(30),
            ..ServerConfig::default()
        },
        ServerHooks::default(),
    )
    .unwrap()
}

/// A free loopback port outside the kernel's ephemeral range, for a listener that must bind the
/// same port again after a restart. A port from that range, once its listener is gone, may be
/// handed to any outgoing connection as its source port (or to a client's own reconnect
/// attempt, which then connects to itself), and the second bind fails with "address in use".
fn restartable_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = u32::from(low / 2).max(1);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    (0..span)
        .map(|i| (low / 2) + ((seed.wrapping_add(i.wrapping_mul(7919))) % span) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

#[derive(Serialize, Deserialize)]
struct Double {
    n: u64,
}

impl JobArgs for Double {
    const KIND: &'static str = "double";
}

struct Doubler;

impl Worker for Doubler {
    type Args = Double;
    async fn work(&self, job: Job<Double>) -> Result<(), JobError> {
        job.set_progress(serde_json::json!({"percent": 50}))?;
        job.set_result(job.args.n * 2)?;
        Ok(())
    }
}

/// Waits (bounded) until the server has answered `n` of the worker's outcomes.
async fn answered(worker: &RemoteWorker, n: u64) {
    if tokio::time::timeout(Duration::from_secs(20), worker.answered(n))
        .await
        .is_err()
    {
        panic!(
            "{n} outcomes not answered within 20 s: {:?}",
            worker.stats()
        );
    }
}

/// The job's row, which must be in `state`.
async fn row_in(db: &Db, id: i64, state: JobState) -> backlog::JobRow {
    let row = db.job_get(id).await.unwrap().expect("the job");
    assert_eq!(row.state, state, "job {id}");
    row
}

async fn a_remote_worker_runs_jobs_with_the_same_worker_trait(db: Db) {
    let server = server(&db, "tcp://127.0.0.1:0");
    let worker = RemoteWorker::builder([server.endpoint()])
        .capacity(4)
        .start(Workers::new().register(Doubler))
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(db.enqueue(Double { n }).await.unwrap());
    }
    answered(&worker, 10).await;
    for (n, id) in ids.iter().enumerate() {
        let row = row_in(&db, *id, JobState::Completed).await;
        assert_eq!(row.result, Some(serde_json::json!(n as u64 * 2)));
        assert_eq!(row.attempted_by, vec![worker.worker_id().to_owned()]);
    }
    let stats = worker.shutdown().await;
    assert_eq!((stats.orders, stats.recorded, stats.stale), (10, 10, 0));
    server.shutdown().await;
}

#[derive(Serialize, Deserialize)]
struct Act {
    what: String,
}

impl JobArgs for Act {
    const KIND: &'static str = "act";
}

struct Actor;

impl Worker for Actor {
    type Args = Act;
    async fn work(&self, job: Job<Act>) -> Result<(), JobError> {
        match job.args.what.as_str() {
            "discard" => Err(JobError::discard("not worth it")),
            "snooze" => Err(JobError::snooze(Duration::from_secs(3600))),
            "cancel" => Err(JobError::cancel("no longer wanted")),
            "retry" => Err(JobError::retry("try later")),
            "panic" => panic!("boom"),
            _ => Ok(()),
        }
    }
}

async fn job_errors_map_onto_outcomes(db: Db) {
    let server = server(&db, "tcp://127.0.0.1:0");
    let worker = RemoteWorker::builder([server.endpoint()])
        .start(Workers::new().register(Actor))
        .unwrap();
    let cases = [
        ("discard", JobState::Discarded, 1),
        ("snooze", JobState::Scheduled, 0),
        ("cancel", JobState::Cancelled, 1),
        ("retry", JobState::Retryable, 1),
        ("panic", JobState::Retryable, 1),
    ];
    for (n, (what, state, attempt)) in cases.into_iter().enumerate() {
        let id = db.enqueue(Act { what: what.into() }).await.unwrap();
        answered(&worker, n as u64 + 1).await;
        let row = row_in(&db, id, state).await;
        assert_eq!(row.attempt, attempt, "{what}");
        if what == "panic" {
            let error = row.errors.last().expect("the panic is kept");
            assert!(
                error.panicked && error.message.contains("boom"),
                "{error:?}"
            );
        }
    }
    // The last attempt's retry discards.
    let id = db
        .enqueue_with(
            Act {
                what: "retry".into(),
            },
            InsertOpts::new().max_attempts(1),
        )
        .await
        .unwrap();
    answered(&worker, cases.len() as u64 + 1).await;
    row_in(&db, id, JobState::Discarded).await;
    worker.shutdown().await;
    server.shutdown().await;
}

#[derive(Serialize, Deserialize)]
struct Wait;

impl JobArgs for Wait {
    const KIND: &'static str = "wait";
}

/// Waits for cancellation, or for `go`, counting executions and concurrency.
#[derive(Clone)]
struct Waiter {
    /// One permit per job allowed to finish.
    go: Arc<Semaphore>,
    /// One permit per job that started (a counting signal: starts never merge).
    started: Arc<Semaphore>,
    executions: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter {
            go: Arc::new(Semaphore::new(0)),
            started: Arc::new(Semaphore::new(0)),
            executions: Arc::default(),
            running: Arc::default(),
            max_running: Arc::default(),
        }
    }
}

impl Waiter {
    /// Waits until one more job has started.
    async fn started(&self) {
        self.started.acquire().await.expect("never closed").forget();
    }
}

impl Worker for Waiter {
    type Args = Wait;
    async fn work(&self, job: Job<Wait>) -> Result<(), JobError> {
        self.executions.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        self.started.add_permits(1);
        let result = tokio::select! {
            _ = job.cancelled() => Err(JobError::cancel("stopped on request")),
            permit = self.go.acquire() => {
                permit.expect("never closed").forget();
                Ok(())
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

async fn cancellation_reaches_a_running_remote_job(db: Db) {
    let server = server(&db, "tcp://127.0.0.1:0");
    let waiter = Waiter::default();
    let worker = RemoteWorker::builder([server.endpoint()])
        .start(Workers::new().register(waiter.clone()))
        .unwrap();
    let id = db.enqueue(Wait).await.unwrap();
    waiter.started().await;
    db.job_cancel(id).await.unwrap();
    answered(&worker, 1).await;
    row_in(&db, id, JobState::Cancelled).await;
    worker.shutdown().await;
    server.shutdown().await;
}

async fn the_capacity_is_never_exceeded(db: Db) {
    let server = server(&db, "tcp://127.0.0.1:0");
    let waiter = Waiter::default();
    let worker = RemoteWorker::builder([server.endpoint()])
        .capacity(2)
        .start(Workers::new().register(waiter.clone()))
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(db.enqueue(Wait).await.unwrap());
    }
    for _ in 0..6 {
        waiter.started().await;
        waiter.go.add_permits(1);
    }
    answered(&worker, 6).await;
    for id in ids {
        row_in(&db, id, JobState::Completed).await;
    }
    assert!(waiter.max_running.load(Ordering::SeqCst) <= 2);
    assert_eq!(waiter.executions.load(Ordering::SeqCst), 6);
    worker.shutdown().await;
    server.shutdown().await;
}

async fn an_outcome_survives_a_server_restart_and_the_job_runs_once(db: Db) {
    let endpoint = format!("tcp://127.0.0.1:{}", restartable_port());
    let first = server(&db, &endpoint);
    let waiter = Waiter::default();
    let worker = RemoteWorker::builder([endpoint.clone()])
        .start(Workers::new().register(waiter.clone()))
        .unwrap();
    let id = db.enqueue(Wait).await.unwrap();
    waiter.started().await;
    first.shutdown().await;
    // The job finishes while no server runs; its outcome waits in the worker.
    waiter.go.add_permits(1);
    // The port is free once shutdown returns (`Server::shutdown` terminates its context).
    let second = server(&db, &endpoint);
    answered(&worker, 1).await;
    let row = row_in(&db, id, JobState::Completed).await;
    assert_eq!(row.attempt, 1);
    assert_eq!(
        waiter.executions.load(Ordering::SeqCst),
        1,
        "ran exactly once"
    );
    let stats = worker.shutdown().await;
    assert_eq!(stats.stale, 0);
    second.shutdown().await;
}

async fn the_producer_enqueues_and_a_resend_is_idempotent(db: Db) {
    let server = server(&db, "tcp://127.0.0.1:0");
    let mut producer = RemoteProducer::connect(server.endpoint(), None)
        .await
        .unwrap();
    let one = producer.enqueue(&Double { n: 1 }).await.unwrap();
    assert!(!one.duplicate);
    let row = db.job_get(one.id).await.unwrap().unwrap();
    assert_eq!(row.kind, "double");
    let spec = || {
        vec![backlog_protocol::JobSpec::new(
            "double",
            serde_json::json!({"n": 2}),
        )]
    };
    let first = producer.request("fixed-id", spec()).await.unwrap();
    let again = producer.request("fixed-id", spec()).await.unwrap();
    assert_eq!(first[0].id, again[0].id);
    assert!(again[0].duplicate);
    assert_eq!(db.unfinished().await.unwrap().total, 2);
    server.shutdown().await;
}

async fn the_producer_submits_workflows_and_batches(db: Db) {
    use backlog_protocol::{BatchOpen, Dependency, JobSpec};
    let server = server(&db, "tcp://127.0.0.1:0");
    let mut producer = RemoteProducer::connect(server.endpoint(), None)
        .await
        .unwrap();
    let double = |n: i64| JobSpec::new("double", serde_json::json!({ "n": n }));
    let mut second = double(2);
    second.after = vec![Dependency::Index(0)];
    let (workflow, jobs) = producer
        .enqueue_workflow("pair", vec![double(1), second])
        .await
        .unwrap();
    let stored = db.workflow_jobs(workflow).await.unwrap();
    assert_eq!(stored.len(), 2);
    let waiting = stored.iter().find(|j| j.job.id == jobs[1].id).unwrap();
    assert_eq!(waiting.depends_on, vec![jobs[0].id]);

    let (batch, members) = producer
        .open_batch(
            BatchOpen {
                description: "doubles".into(),
                parent: None,
                callback: None,
            },
            vec![double(3)],
            false,
        )
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    let added = producer
        .add_to_batch(batch, vec![double(4), double(5)], true)
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    let row = db.batch_get(batch).await.unwrap().unwrap();
    assert_eq!(row.counts.total, 3);
    assert!(row.sealed_at.is_some());
    let refused = producer.add_to_batch(batch, vec![double(6)], false).await;
    assert!(
        matches!(refused, Err(backlog_remote::ProduceError::Rejected { .. })),
        "{refused:?}"
    );
    server.shutdown().await;
}
