//! Idempotency keys in the caller's own rusqlite transaction commit or roll back with the job.

use backlog_sqlite::testing::test_storage;
use backlog_storage::{IdempotencyInsert, JobInsert, JobInsertManyParams, Storage};

fn keyed(key: &str) -> JobInsertManyParams {
    let mut job = JobInsert::new("default", "tx_job", serde_json::json!({}));
    job.idempotency = Some(IdempotencyInsert::new(key));
    JobInsertManyParams { jobs: vec![job] }
}

#[tokio::test]
async fn key_commits_and_rolls_back_with_the_transaction() {
    let storage = test_storage().await.unwrap();
    let mut conn = rusqlite::Connection::open(storage.path()).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();

    let tx = conn.transaction().unwrap();
    storage.job_insert_many_tx(&tx, keyed("a")).unwrap();
    tx.rollback().unwrap();
    let fresh = storage.job_insert_many(keyed("a")).await.unwrap()[0];
    assert!(!fresh.duplicate, "a rolled-back key is free");

    let tx = conn.transaction().unwrap();
    let first = storage.job_insert_many_tx(&tx, keyed("b")).unwrap()[0];
    let same_tx = storage.job_insert_many_tx(&tx, keyed("b")).unwrap()[0];
    assert_eq!((same_tx.id, same_tx.duplicate), (first.id, true));
    tx.commit().unwrap();
    let pooled = storage.job_insert_many(keyed("b")).await.unwrap()[0];
    assert_eq!((pooled.id, pooled.duplicate), (first.id, true));
}
