//! Idempotency keys in the caller's transaction: the key commits or rolls back with the job, a
//! concurrent insert of the key waits for the transaction holding it, and the sqlx path agrees.

use backlog_postgres::testing::{database_url, test_storage};
use backlog_storage::{
    IdempotencyInsert, JobInsert, JobInsertManyParams, JobInsertResult, JobListParams, Storage,
};
use tokio_postgres::NoTls;

fn keyed(key: &str) -> JobInsertManyParams {
    let mut job = JobInsert::new("tx", "k", serde_json::json!({}));
    job.idempotency = Some(IdempotencyInsert::new(key));
    JobInsertManyParams { jobs: vec![job] }
}

async fn own_connection() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn pair(result: &JobInsertResult) -> (i64, bool) {
    (result.id, result.duplicate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_commits_and_rolls_back_with_the_transaction() {
    let storage = test_storage().await;
    let mut client = own_connection().await;

    // Rolled back: the key is free again.
    let tx = client.transaction().await.unwrap();
    storage.job_insert_many_tx(&tx, keyed("a")).await.unwrap();
    tx.rollback().await.unwrap();
    let fresh = storage.job_insert_many(keyed("a")).await.unwrap()[0];
    assert!(!fresh.duplicate);

    // Committed: a later insert, pooled or in the same transaction, is a duplicate.
    let tx = client.transaction().await.unwrap();
    let first = storage.job_insert_many_tx(&tx, keyed("b")).await.unwrap()[0];
    let same_tx = storage.job_insert_many_tx(&tx, keyed("b")).await.unwrap()[0];
    assert_eq!(pair(&same_tx), (first.id, true));
    tx.commit().await.unwrap();
    let pooled = storage.job_insert_many(keyed("b")).await.unwrap()[0];
    assert_eq!(pair(&pooled), (first.id, true));
    let jobs = storage.job_list(JobListParams::default()).await.unwrap();
    assert_eq!(jobs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_insert_waits_for_the_holding_transaction() {
    let storage = test_storage().await;
    let mut client = own_connection().await;
    let tx = client.transaction().await.unwrap();
    let held = storage.job_insert_many_tx(&tx, keyed("c")).await.unwrap()[0];
    let waiting = {
        let storage = storage.clone();
        tokio::spawn(async move { storage.job_insert_many(keyed("c")).await })
    };
    tx.commit().await.unwrap();
    let result = waiting.await.unwrap().unwrap()[0];
    assert_eq!(pair(&result), (held.id, true));
}

#[cfg(feature = "sqlx")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_transaction_stores_the_key() {
    use sqlx::Connection;

    let storage = test_storage().await;
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    storage
        .job_insert_many_sqlx(&mut tx, keyed("d"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let first = storage
        .job_insert_many_sqlx(&mut tx, keyed("d"))
        .await
        .unwrap()[0];
    assert!(!first.duplicate);
    tx.commit().await.unwrap();
    let pooled = storage.job_insert_many(keyed("d")).await.unwrap()[0];
    assert_eq!(pair(&pooled), (first.id, true));
}
