//! The storage conformance suite, each test on its own fresh database file.

use std::sync::Arc;

use backlog_storage::Storage;

async fn harness() -> Arc<dyn Storage> {
    let storage = backlog_sqlite::testing::test_storage()
        .await
        .expect("a fresh test database");
    Arc::new(storage)
}

backlog_conformance::suite!(harness);
