//! `Client::enqueue_many_with` and `Client::enqueue_many_each`: options per call and per job.

use std::sync::Arc;

use backlog::{Client, InsertOpts, JobArgs, Storage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Noop;

impl JobArgs for Noop {
    const KIND: &'static str = "noop";
}

async fn storage() -> Arc<dyn Storage> {
    Arc::new(
        backlog::sqlite::testing::test_storage()
            .await
            .expect("sqlite test storage"),
    )
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
    assert_eq!(client.unfinished().await.unwrap().queue("ok"), 0);
}
