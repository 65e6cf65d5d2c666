//! Single enqueues made at the same moment share statements and commits (src/gather.rs), and
//! each caller still gets its own answer: its id once its job is stored, or its own error.

use backlog_postgres::testing::test_storage;
use backlog_storage::{ErrorKind, JobInsert, JobInsertManyParams, Storage};

fn one(job: JobInsert) -> JobInsertManyParams {
    JobInsertManyParams { jobs: vec![job] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_enqueues_share_commits() {
    let storage = test_storage().await;
    let calls = (0..64).map(|i| {
        let storage = storage.clone();
        tokio::spawn(async move {
            storage
                .job_insert_many(one(JobInsert::new("q", "k", serde_json::json!({ "i": i }))))
                .await
        })
    });
    let mut ids = Vec::new();
    for call in futures_util::future::join_all(calls).await {
        let results = call.unwrap().unwrap();
        assert_eq!(results.len(), 1);
        assert!(!results[0].duplicate);
        ids.push(results[0].id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64, "one job, one id, per call");
    let client = storage.pool().get().await.unwrap();
    let row = client
        .query_one(
            "SELECT count(*) AS jobs, count(DISTINCT xmin::text) AS transactions FROM backlog_job",
            &[],
        )
        .await
        .unwrap();
    let (jobs, transactions): (i64, i64) = (row.get("jobs"), row.get("transactions"));
    assert_eq!(jobs, 64);
    assert!(
        transactions < 64,
        "64 concurrent enqueues committed in {transactions} transactions: none shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_job_fails_alone() {
    let storage = test_storage().await;
    // A kind the database refuses (over 255 characters), sent beside good jobs.
    let bad = JobInsert::new("q", "k".repeat(300), serde_json::json!({}));
    let mut calls = Vec::new();
    for i in 0..40 {
        let storage = storage.clone();
        let job = if i == 20 {
            bad.clone()
        } else {
            JobInsert::new("q", "k", serde_json::json!({ "i": i }))
        };
        calls.push(tokio::spawn(async move {
            storage.job_insert_many(one(job)).await
        }));
    }
    let mut stored = 0;
    for (i, call) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        match call.unwrap() {
            Ok(results) => {
                assert_ne!(i, 20, "the refused job was stored");
                assert_eq!(results.len(), 1);
                stored += 1;
            }
            Err(e) => {
                assert_eq!(i, 20, "a good job failed: {e}");
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            }
        }
    }
    assert_eq!(stored, 39);
    let client = storage.pool().get().await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM backlog_job", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 39);
}
