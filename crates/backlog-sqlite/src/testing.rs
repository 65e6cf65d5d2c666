//! Test helpers: a fresh, migrated database per test, in its own temporary directory, deleted
//! when the last handle of the storage is dropped. Tests using it can run in parallel.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), backlog_storage::Error> {
//! use backlog_storage::Storage;
//!
//! let storage = backlog_sqlite::testing::test_storage().await?;
//! assert_eq!(storage.job_count_by_state().await?, vec![]);
//! # Ok(())
//! # }
//! ```

use backlog_storage::{Error, ErrorKind, MigrationDirection, MigrationRunParams, Storage};

use crate::{SqliteConfig, SqliteStorage, Synchronous};

/// A migrated storage on a new file in a new directory under the system's temporary directory.
/// The directory is deleted when the last clone of the storage is dropped.
///
/// Uses `synchronous=NORMAL`: a test database need not survive a power loss.
pub async fn test_storage() -> Result<SqliteStorage, Error> {
    let dir = std::env::temp_dir().join(format!("backlog-sqlite-test-{:016x}", fastrand::u64(..)));
    let path = dir.join("backlog.db");
    let config = SqliteConfig {
        synchronous: Synchronous::Normal,
        ..SqliteConfig::default()
    };
    let storage =
        tokio::task::spawn_blocking(move || SqliteStorage::open_blocking(path, config, Some(dir)))
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Database, "opening the test database failed").with_source(e)
            })??;
    storage
        .migration_run(MigrationRunParams {
            direction: MigrationDirection::Up,
            target: None,
        })
        .await?;
    Ok(storage)
}

impl SqliteStorage {
    /// Deletes every row of every Backlog table (jobs, history, queues, schedules, workflows,
    /// batches, keys), keeping the schema: for tests, demos and benchmarks, never production.
    /// Not part of the [`Storage`] seam on purpose.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn truncate_all(&self) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute_batch(crate::sql::TRUNCATE_ALL)
                .map_err(crate::error::from_sqlite)
        })
        .await?;
        // The job id counter is gone too: the cross-process watcher reads from id 1 again.
        self.notifier().ids_restarted();
        Ok(())
    }
}
