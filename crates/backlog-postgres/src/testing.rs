//! Isolated, migrated storages for tests: one fresh schema per call, so tests run in parallel
//! against one database without seeing each other's jobs.
//!
//! ```no_run
//! # async fn run() {
//! use backlog_storage::Storage;
//!
//! let storage = backlog_postgres::testing::test_storage().await;
//! assert!(storage.job_get(1).await.unwrap().is_none());
//! # }
//! ```
//!
//! Schemas (`bt_<16 hex digits>`) are left behind when the test ends: the test script drops
//! and recreates the whole test database at the start of each run.

use backlog_storage::{Error, MigrationDirection, MigrationRunParams, Storage};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::{error, PgConfig, PgStorage};

/// The environment variable naming the test database.
pub const DATABASE_URL_VAR: &str = "BACKLOG_TEST_DATABASE_URL";
/// The test database used when [`DATABASE_URL_VAR`] is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/backlog_test";

/// The test database's URL: [`DATABASE_URL_VAR`], or [`DEFAULT_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// A new random test schema name, `bt_` and 16 hex digits.
pub fn random_schema() -> String {
    format!("bt_{:016x}", fastrand::u64(..))
}

/// A storage on a fresh schema of the test database, with every migration applied.
///
/// Creates the test database if it does not exist.
///
/// # Panics
///
/// When the database cannot be reached or migrated: tests cannot go on without it. Use
/// [`try_test_storage`] to handle the error.
pub async fn test_storage() -> PgStorage {
    match try_test_storage().await {
        Ok(storage) => storage,
        Err(err) => {
            panic!("could not set up a PostgreSQL test storage (set {DATABASE_URL_VAR}): {err}")
        }
    }
}

/// A [`test_storage`] whose bulk `COPY`s go row by row (`true`, what PostgreSQL 16 and older
/// get) or through the server's multi-insert buffer (`false`, 17 and later), whatever the test
/// server's version: both statements are tested on any server (`src/insert_copy.rs`).
pub async fn test_storage_copying(row_by_row: bool) -> PgStorage {
    let storage = test_storage().await;
    storage
        .inner
        .copy_row_by_row
        .set(row_by_row)
        .expect("a fresh storage has not decided yet");
    storage
}

/// Like [`test_storage`], returning errors.
///
/// # Errors
///
/// When the database cannot be reached, created or migrated.
pub async fn try_test_storage() -> Result<PgStorage, Error> {
    let storage = try_test_storage_unmigrated().await?;
    storage
        .migration_run(MigrationRunParams {
            direction: MigrationDirection::Up,
            target: None,
        })
        .await?;
    Ok(storage)
}

/// A storage on a fresh, empty schema (which does not exist until migrated), for tests of
/// the migrations themselves.
///
/// # Errors
///
/// When the database cannot be reached or created.
pub async fn try_test_storage_unmigrated() -> Result<PgStorage, Error> {
    let url = database_url();
    let config = PgConfig {
        schema: random_schema(),
        max_connections: 8,
    };
    match PgStorage::connect(&url, config.clone()).await {
        Err(err) if is_missing_database(&err) => {
            create_database(&url).await?;
            PgStorage::connect(&url, config).await
        }
        other => other,
    }
}

fn is_missing_database(err: &Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(err) = source {
        if let Some(pg) = err.downcast_ref::<tokio_postgres::Error>() {
            return pg.code() == Some(&SqlState::INVALID_CATALOG_NAME);
        }
        source = err.source();
    }
    false
}

/// Creates the database named in `url`, connecting to the `postgres` database of the same
/// server. Losing a creation race to another test process is fine.
async fn create_database(url: &str) -> Result<(), Error> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        Error::new(backlog_storage::ErrorKind::InvalidInput, "bad URL").with_source(e)
    })?;
    let name = config.get_dbname().unwrap_or("postgres").to_owned();
    config.dbname("postgres");
    let (client, connection) = config.connect(NoTls).await.map_err(error::pg)?;
    let driver = tokio::spawn(connection);
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    let result = client.batch_execute(&sql).await;
    drop(client);
    let _ = driver.await;
    match result {
        Ok(()) => Ok(()),
        Err(err)
            if err.code() == Some(&SqlState::DUPLICATE_DATABASE)
                || err.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(err) => Err(error::pg(err)),
    }
}

impl PgStorage {
    /// Deletes every row of every Backlog table in this storage's schema (jobs, history, queues,
    /// schedules, workflows, batches, keys), keeping the schema: for tests, demos and
    /// benchmarks, never production. Not part of the [`Storage`] seam
    /// on purpose.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn truncate_all(&self) -> Result<(), backlog_storage::Error> {
        self.execute(include_str!("../sql/truncate_all.sql"), &[])
            .await
            .map(drop)
    }

    /// The server process id of this storage's wake-up connection (`src/wakeup.rs`), once it
    /// has sent a wake-up (0 before): for tests that cut that connection.
    pub fn wakeup_backend_pid(&self) -> i32 {
        self.inner
            .wakeup_pid
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
