//! Transactional enqueue on SQLite.

use std::ops::Deref;

use backlog_sqlite::SqliteStorage;
use backlog_storage::JobInsertManyParams;
use backlog_types::JobId;

use crate::{Client, ClientConfig, EnqueueError, InsertOpts, JobArgs};

/// A [`Client`] on SQLite that can also enqueue inside your own `rusqlite` transaction on the
/// same database file, so a job exists only if your data commits. Derefs to [`Client`].
///
/// ```no_run
/// # async fn example(sq: backlog::sqlite::SqliteStorage) -> Result<(), Box<dyn std::error::Error>> {
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Welcome { user_id: i64 }
/// # impl backlog::JobArgs for Welcome { const KIND: &'static str = "welcome"; }
/// let client = backlog::SqliteClient::new(sq);
/// let mut conn = rusqlite::Connection::open("app.sqlite3")?;
/// let tx = conn.transaction()?;
/// tx.execute("INSERT INTO users (id) VALUES (42)", [])?;
/// client.enqueue_tx(&tx, Welcome { user_id: 42 }, Default::default())?;
/// tx.commit()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteClient {
    client: Client,
    sqlite: SqliteStorage,
}

impl SqliteClient {
    /// A client over `sqlite` with default settings.
    pub fn new(sqlite: SqliteStorage) -> SqliteClient {
        SqliteClient::with_config(sqlite, ClientConfig::default())
    }

    /// A client over `sqlite` with explicit settings.
    pub fn with_config(sqlite: SqliteStorage, config: ClientConfig) -> SqliteClient {
        let client = Client::with_config(std::sync::Arc::new(sqlite.clone()), config);
        SqliteClient { client, sqlite }
    }

    /// Enqueues one job inside the caller's transaction. Synchronous, like rusqlite.
    pub fn enqueue_tx<A: JobArgs>(
        &self,
        tx: &rusqlite::Transaction<'_>,
        args: A,
        opts: InsertOpts,
    ) -> Result<JobId, EnqueueError> {
        let job = self.client.prepare(&args, opts)?;
        let counts = crate::telemetry::enqueue_counts(std::slice::from_ref(&job));
        let ids = self
            .sqlite
            .job_insert_many_tx(tx, JobInsertManyParams { jobs: vec![job] })?;
        crate::telemetry::enqueued(counts);
        Ok(ids[0].id)
    }

    /// Inserts a workflow inside the caller's transaction: its jobs and dependencies exist if
    /// and only if the caller commits. Synchronous, like rusqlite.
    ///
    /// # Errors
    ///
    /// As for [`Client::workflow_insert`](crate::Client::workflow_insert).
    pub fn workflow_insert_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        workflow: crate::Workflow,
    ) -> Result<backlog_storage::WorkflowInsertResult, crate::WorkflowError> {
        let params = self.client.workflow_prepare(workflow)?;
        let counts = crate::telemetry::enqueue_counts(&params.jobs);
        let result = self
            .sqlite
            .workflow_insert_tx(tx, params)
            .map_err(|e| crate::WorkflowError::Insert(e.into()))?;
        crate::telemetry::enqueued(counts);
        Ok(result)
    }

    /// The SQLite storage.
    pub fn storage_sqlite(&self) -> &SqliteStorage {
        &self.sqlite
    }
}

impl Deref for SqliteClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}
