//! `SqliteStorage::truncate_all` (tests, demos, benchmarks; not on the seam) empties the tables.

use backlog_sqlite::testing::test_storage;
use backlog_storage::{JobInsert, JobInsertManyParams, JobListParams, Storage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_all_empties_the_tables() {
    let storage = test_storage().await.unwrap();
    let jobs = vec![JobInsert::new("q", "k", serde_json::json!({})); 2];
    storage
        .job_insert_many(JobInsertManyParams { jobs })
        .await
        .unwrap();
    storage.truncate_all().await.unwrap();
    let left = storage.job_list(JobListParams::default()).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(storage.queue_list().await.unwrap().is_empty());
}
