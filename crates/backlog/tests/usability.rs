//! `Client::unfinished_counts` and `Runner::run_until`.

use std::sync::Arc;
use std::time::Duration;

use backlog::{
    Client, InsertOpts, Job, JobArgs, JobError, JobId, Runner, Storage, Worker, Workers,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Noop;

impl JobArgs for Noop {
    const KIND: &'static str = "noop";
}

struct NoopWorker;

impl Worker for NoopWorker {
    type Args = Noop;
    async fn work(&self, _job: Job<Noop>) -> Result<(), JobError> {
        Ok(())
    }
}

async fn storage() -> Arc<dyn Storage> {
    Arc::new(
        backlog::sqlite::testing::test_storage()
            .await
            .expect("sqlite test storage"),
    )
}

#[tokio::test]
async fn unfinished_counts_per_queue_and_total_sqlite() {
    unfinished_counts_per_queue_and_total(storage().await).await;
}

#[tokio::test]
async fn unfinished_counts_per_queue_and_total_postgres() {
    unfinished_counts_per_queue_and_total(Arc::new(
        backlog::postgres::testing::test_storage().await,
    ))
    .await;
}

async fn unfinished_counts_per_queue_and_total(db: Arc<dyn Storage>) {
    let client = Client::from_arc(db.clone());
    assert_eq!(client.unfinished_counts().await.unwrap().total, 0);
    client.enqueue(Noop).await.unwrap();
    client.enqueue(Noop).await.unwrap();
    let cancelled: JobId = client
        .enqueue_with(Noop, InsertOpts::new().queue("media"))
        .await
        .unwrap();
    client
        .enqueue_with(Noop, InsertOpts::new().queue("media"))
        .await
        .unwrap();
    client.job_cancel_many(vec![cancelled]).await.unwrap();
    let counts = client.unfinished_counts().await.unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(counts.queue("default"), 2);
    assert_eq!(counts.queue("media"), 1);
    assert_eq!(counts.queue("absent"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_returns_after_the_stop_future() {
    let db = storage().await;
    let runner = Runner::builder(db, Workers::new().register(NoopWorker))
        .queue("default", 1)
        .start()
        .expect("runner starts");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runner.run_until(
        async {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    assert!(!run.is_finished());
    tx.send(()).unwrap();
    run.await.expect("runner stopped cleanly");
}

#[tokio::test]
async fn enqueue_many_with_options_per_call_and_per_job() {
    let db = storage().await;
    let client = Client::from_arc(db.clone());
    let ids = client
        .enqueue_many_with([Noop, Noop], InsertOpts::new().queue("media"))
        .await
        .unwrap();
    for id in &ids {
        assert_eq!(client.job_get(*id).await.unwrap().unwrap().queue, "media");
    }
    let ids = client
        .enqueue_many_each([
            (Noop, InsertOpts::new().queue("a")),
            (Noop, InsertOpts::new().queue("b")),
        ])
        .await
        .unwrap();
    assert_eq!(client.job_get(ids[0]).await.unwrap().unwrap().queue, "a");
    assert_eq!(client.job_get(ids[1]).await.unwrap().unwrap().queue, "b");
    let bad = client
        .enqueue_many_each([
            (Noop, InsertOpts::new().queue("ok")),
            (Noop, InsertOpts::new().queue("not a queue!")),
        ])
        .await;
    assert!(bad.is_err(), "an invalid queue name is refused");
    assert_eq!(client.unfinished_counts().await.unwrap().queue("ok"), 0);
}
