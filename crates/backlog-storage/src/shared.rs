//! [`IntoStorage`]: one way to hand a storage to everything that uses one.

use std::sync::Arc;

use crate::Storage;

/// Anything that can become a shared `Arc<dyn Storage>`: a backend by value
/// (`SqliteStorage`, `PgStorage`), an `Arc` of one, or an `Arc<dyn Storage>`.
///
/// The client, the runner and the server all take `impl IntoStorage`, so an application that
/// also needs the concrete backend (its pool, its transactional enqueue) keeps one
/// `Arc<PgStorage>` and passes clones of it everywhere.
pub trait IntoStorage {
    /// The shared handle.
    fn into_storage(self) -> Arc<dyn Storage>;
}

impl<S: Storage> IntoStorage for S {
    fn into_storage(self) -> Arc<dyn Storage> {
        Arc::new(self)
    }
}

impl<S: Storage> IntoStorage for Arc<S> {
    fn into_storage(self) -> Arc<dyn Storage> {
        self
    }
}

impl IntoStorage for Arc<dyn Storage> {
    fn into_storage(self) -> Arc<dyn Storage> {
        self
    }
}
