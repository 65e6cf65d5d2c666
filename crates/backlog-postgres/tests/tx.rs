//! Transactional enqueue: jobs inserted in the caller's transaction commit or roll back with it.

use std::time::Duration;

use backlog_postgres::testing::{database_url, test_storage};
use backlog_postgres::PgStorage;
use backlog_storage::{Event, JobInsert, JobInsertManyParams, JobListParams, Storage};
use tokio::time::timeout;
use tokio_postgres::NoTls;

fn params(queue: &str) -> JobInsertManyParams {
    JobInsertManyParams {
        jobs: vec![JobInsert::new(queue, "k", serde_json::json!({"n": 1}))],
    }
}

/// A plain connection of the caller's own, with the default search_path (not Backlog's schema).
async fn own_connection() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn job_count(storage: &PgStorage) -> usize {
    storage
        .job_list(JobListParams::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_inserts_and_notifies() {
    let storage = test_storage().await;
    let mut events = storage.event_subscribe().await.unwrap();
    let mut client = own_connection().await;
    let before: String = client
        .query_one("SHOW search_path", &[])
        .await
        .unwrap()
        .get(0);

    let tx = client.transaction().await.unwrap();
    let ids = storage
        .job_insert_many_tx(&tx, params("committed"))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    // Not visible to others, and no wake-up, before the commit.
    assert_eq!(job_count(&storage).await, 0);
    assert!(events.try_recv().is_err());
    tx.commit().await.unwrap();

    let event = timeout(Duration::from_secs(10), events.recv()).await;
    assert_eq!(
        event.unwrap().unwrap(),
        Event::JobAvailable {
            queue: "committed".into()
        }
    );
    let job = storage.job_get(ids[0].id).await.unwrap().unwrap();
    assert_eq!(job.queue, "committed");
    let after: String = client
        .query_one("SHOW search_path", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, before, "the caller's search_path is restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_leaves_no_job() {
    let storage = test_storage().await;
    let mut client = own_connection().await;
    let tx = client.transaction().await.unwrap();
    storage
        .job_insert_many_tx(&tx, params("rolled_back"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(job_count(&storage).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_pooled_deadpool_transaction_and_plain_client() {
    let storage = test_storage().await;
    let mut pooled = storage.pool().get().await.unwrap();
    let tx = pooled.transaction().await.unwrap();
    storage.job_insert_many_tx(&*tx, params("a")).await.unwrap();
    tx.commit().await.unwrap();

    // Outside a transaction each statement commits on its own.
    let client = own_connection().await;
    storage
        .job_insert_many_tx(&client, params("b"))
        .await
        .unwrap();
    assert!(storage
        .job_insert_many_tx(&client, JobInsertManyParams::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(job_count(&storage).await, 2);
}

#[cfg(feature = "sqlx")]
mod sqlx_tx {
    use super::*;
    use sqlx::Connection;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commit_and_rollback() {
        let storage = test_storage().await;
        let mut events = storage.event_subscribe().await.unwrap();
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();

        let mut tx = conn.begin().await.unwrap();
        storage
            .job_insert_many_sqlx(&mut tx, params("rolled_back"))
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(job_count(&storage).await, 0);

        let mut tx = conn.begin().await.unwrap();
        let ids = storage
            .job_insert_many_sqlx(&mut tx, params("committed"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let event = timeout(Duration::from_secs(10), events.recv()).await;
        assert_eq!(
            event.unwrap().unwrap(),
            Event::JobAvailable {
                queue: "committed".into()
            }
        );
        assert_eq!(
            storage.job_get(ids[0].id).await.unwrap().unwrap().queue,
            "committed"
        );
        assert_eq!(job_count(&storage).await, 1);

        // Every column of the insert goes through this path too.
        let mut job = JobInsert::new("committed", "k", serde_json::json!({}));
        job.timeout = Some(Duration::from_millis(2_500));
        job.backoff = Some(serde_json::json!({"type": "fixed", "delay_ms": 10}));
        job.partition_key = Some("tenant-1".into());
        let mut tx = conn.begin().await.unwrap();
        let ids = storage
            .job_insert_many_sqlx(&mut tx, JobInsertManyParams { jobs: vec![job] })
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let row = storage.job_get(ids[0].id).await.unwrap().unwrap();
        assert_eq!(row.timeout_ms, Some(2_500));
        assert_eq!(row.partition_key.as_deref(), Some("tenant-1"));
        assert!(row.backoff.is_some());
    }
}
