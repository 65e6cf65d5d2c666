//! The storage conformance suite, each test on its own fresh schema.

use std::sync::Arc;

use backlog_storage::Storage;

async fn harness() -> Arc<dyn Storage> {
    Arc::new(backlog_postgres::testing::test_storage().await)
}

backlog_conformance::suite!(harness);
