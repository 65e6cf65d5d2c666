//! Pooled connections force custom plans (every execution is planned with its real queue name
//! and limit, never from a cached generic plan made with other statistics) and run in
//! Backlog's schema. The plans themselves — each hot statement on a never-analyzed table and
//! on one analyzed while empty — are pinned by `tests/plans.rs`.

use backlog_postgres::testing::test_storage;

/// A setting of the pooled connection `client`.
async fn show(client: &tokio_postgres::Client, name: &str) -> String {
    client
        .query_one(&format!("SHOW {name}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_force_custom_plans() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    assert_eq!(show(&client, "plan_cache_mode").await, "force_custom_plan");
    assert_eq!(show(&client, "search_path").await, storage.schema());
}

/// The inserts, outcome writes and heartbeats switch their connection to generic plans for
/// one statement (`src/plan.rs`); the connection goes back to the pool planning custom again,
/// also when the statement failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_statements_give_their_connection_back_planning_custom() {
    use backlog_storage::{JobHeartbeatManyParams, JobInsert, JobInsertManyParams, Storage};

    let storage = test_storage().await;
    // The mode, and sequential scans (off while a generic plan is made) back on.
    let mode = || async {
        let client = storage.pool().get().await.unwrap();
        assert_eq!(show(&client, "enable_seqscan").await, "on");
        show(&client, "plan_cache_mode").await
    };
    let insert = |max_attempts: i32| {
        let mut job = JobInsert::new("q", "k", serde_json::json!({}));
        job.max_attempts = max_attempts;
        JobInsertManyParams {
            jobs: vec![job.clone(), job],
        }
    };
    storage.job_insert_many(insert(3)).await.unwrap();
    assert_eq!(mode().await, "force_custom_plan");
    // A CHECK violation fails the insert statement itself, between the two switches.
    let error = storage.job_insert_many(insert(0)).await.unwrap_err();
    assert!(error.to_string().contains("max_attempts"), "{error}");
    assert_eq!(mode().await, "force_custom_plan");
    storage
        .job_heartbeat_many(JobHeartbeatManyParams {
            jobs: vec![(1, backlog_types::LeaseToken::from_bytes([7; 16]))],
            lease: std::time::Duration::from_secs(30),
        })
        .await
        .unwrap();
    assert_eq!(mode().await, "force_custom_plan");
    // Everything ran on the one connection the pool opened at connect.
    assert_eq!(storage.pool().status().size, 1);
}
