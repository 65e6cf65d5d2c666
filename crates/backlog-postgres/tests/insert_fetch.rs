//! `job_insert_and_fetch` shares one transaction between an insert, which must commit durably,
//! and the claim, whose statement turns `synchronous_commit` off for its transaction. The
//! restore statement run between them (src/insert_fetch.rs) must turn it back.

use backlog_postgres::testing::test_storage;

const FETCH: &str = include_str!("../sql/job_fetch_available.sql");
const RESTORE: &str = include_str!("../sql/synchronous_commit_restore.sql");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_in_an_insert_transaction_leaves_the_commit_durable() {
    let storage = test_storage().await;
    let mut client = storage.pool().get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let setting = || async {
        let value: String = tx
            .query_one("SHOW synchronous_commit", &[])
            .await
            .unwrap()
            .get(0);
        value
    };
    assert_eq!(setting().await, "on");
    let kinds: Vec<String> = Vec::new();
    let none: Option<chrono::DateTime<chrono::Utc>> = None;
    tx.query(
        FETCH,
        &[&"q", &10_i64, &"w", &30_000_000_i64, &none, &false, &kinds],
    )
    .await
    .unwrap();
    assert_eq!(setting().await, "off", "the claim relaxes its transaction");
    tx.query(RESTORE, &[]).await.unwrap();
    assert_eq!(setting().await, "on");
    tx.rollback().await.unwrap();
}
