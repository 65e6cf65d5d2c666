//! Pooled connections force custom plans (every execution is planned with its real queue name
//! and limit, never from a cached generic plan made with other statistics) and run in
//! Backlog's schema. The plans themselves — each hot statement on a never-analyzed table and
//! on one analyzed while empty — are pinned by `tests/plans.rs`.

use backlog_postgres::testing::test_storage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_force_custom_plans() {
    let storage = test_storage().await;
    let client = storage.pool().get().await.unwrap();
    let mode: String = client
        .query_one("SHOW plan_cache_mode", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "force_custom_plan");
    let search_path: String = client
        .query_one("SHOW search_path", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(search_path, storage.schema());
}
