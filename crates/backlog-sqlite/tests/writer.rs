//! Group commit in the writer thread.

use std::collections::HashSet;
use std::sync::Arc;

use backlog_sqlite::testing::test_storage;
use backlog_storage::{ErrorKind, JobInsert, JobInsertManyParams, Storage};

fn job(max_attempts: i32) -> JobInsertManyParams {
    let mut job = JobInsert::new("default", "k", serde_json::json!({}));
    job.max_attempts = max_attempts;
    JobInsertManyParams { jobs: vec![job] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_single_inserts_all_commit_with_unique_ids() {
    let storage = Arc::new(test_storage().await.unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let storage = Arc::clone(&storage);
            tokio::spawn(async move { storage.job_insert_many(job(3)).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        let inserted = task.await.unwrap().unwrap();
        assert_eq!(inserted.len(), 1);
        assert!(
            ids.insert(inserted[0].id),
            "duplicate id {}",
            inserted[0].id
        );
    }
    assert_eq!(ids.len(), 200);
    let counts = storage.job_count_by_state().await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_fails_alone() {
    let storage = Arc::new(test_storage().await.unwrap());
    // Enough concurrent requests that several share a batch; every 10th violates the CHECK on
    // max_attempts.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let storage = Arc::clone(&storage);
            let max_attempts = if i % 10 == 0 { 0 } else { 1 };
            tokio::spawn(async move { (i, storage.job_insert_many(job(max_attempts)).await) })
        })
        .collect();
    let mut committed = 0;
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if i % 10 == 0 {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        } else {
            let ids = result.unwrap();
            assert!(storage.job_get(ids[0].id).await.unwrap().is_some());
            committed += 1;
        }
    }
    assert_eq!(committed, 90);
    let counts = storage.job_count_by_state().await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 90);
}

#[tokio::test]
async fn a_failing_job_rolls_back_its_whole_request() {
    let storage = test_storage().await.unwrap();
    let mut params = job(1);
    params.jobs.extend(job(0).jobs);
    let err = storage.job_insert_many(params).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(storage.job_count_by_state().await.unwrap().is_empty());
}

#[tokio::test]
async fn closed_storage_refuses_writes() {
    let storage = test_storage().await.unwrap();
    let other = storage.clone();
    storage.close().await.unwrap();
    let err = other.job_insert_many(job(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}
