//! Transactional enqueue on the caller's own rusqlite transaction.

use backlog_sqlite::testing::test_storage;
use backlog_storage::{JobInsert, JobInsertManyParams, Storage};

fn one_job() -> JobInsertManyParams {
    JobInsertManyParams {
        jobs: vec![JobInsert::new(
            "default",
            "tx_job",
            serde_json::json!({"n": 1}),
        )],
    }
}

fn app_connection(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

#[tokio::test]
async fn committed_jobs_are_visible() {
    let storage = test_storage().await.unwrap();
    let mut conn = app_connection(storage.path());
    let tx = conn.transaction().unwrap();
    let ids = storage.job_insert_many_tx(&tx, one_job()).unwrap();
    tx.commit().unwrap();

    let job = storage.job_get(ids[0].id).await.unwrap().unwrap();
    assert_eq!(job.kind, "tx_job");
    assert_eq!(job.args, serde_json::json!({"n": 1}));
}

#[tokio::test]
async fn rolled_back_jobs_vanish() {
    let storage = test_storage().await.unwrap();
    let mut conn = app_connection(storage.path());
    let tx = conn.transaction().unwrap();
    let ids = storage.job_insert_many_tx(&tx, one_job()).unwrap();
    tx.rollback().unwrap();

    assert_eq!(storage.job_get(ids[0].id).await.unwrap(), None);
    assert!(storage.job_count_by_state().await.unwrap().is_empty());
}
