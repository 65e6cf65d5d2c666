//! Transactional enqueue on PostgreSQL.

use std::ops::Deref;

use backlog_postgres::PgStorage;
use backlog_storage::JobInsertManyParams;
use backlog_types::JobId;

use crate::{Client, ClientConfig, EnqueueError, InsertOpts, JobArgs};

/// A [`Client`] on PostgreSQL that can also enqueue inside your own transaction, so a job
/// exists only if your data commits. Derefs to [`Client`] for everything else.
///
/// ```no_run
/// # async fn example(pool: deadpool_postgres::Pool, pg: backlog::postgres::PgStorage) -> Result<(), Box<dyn std::error::Error>> {
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Welcome { user_id: i64 }
/// # impl backlog::JobArgs for Welcome { const KIND: &'static str = "welcome"; }
/// let client = backlog::PgClient::new(pg);
/// let mut conn = pool.get().await?;
/// let tx = conn.transaction().await?;
/// tx.execute("INSERT INTO users (id) VALUES (42)", &[]).await?;
/// client.enqueue_tx(&*tx, Welcome { user_id: 42 }, Default::default()).await?;
/// tx.commit().await?; // the job and the user appear together, or neither does
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgClient {
    client: Client,
    pg: PgStorage,
}

impl PgClient {
    /// A client over `pg` with default settings.
    pub fn new(pg: PgStorage) -> PgClient {
        PgClient::with_config(pg, ClientConfig::default())
    }

    /// A client over `pg` with explicit settings.
    pub fn with_config(pg: PgStorage, config: ClientConfig) -> PgClient {
        let client = Client::with_config(std::sync::Arc::new(pg.clone()), config);
        PgClient { client, pg }
    }

    /// Enqueues one job inside the caller's transaction (or on any connection).
    pub async fn enqueue_tx<A: JobArgs, C>(
        &self,
        tx: &C,
        args: A,
        opts: InsertOpts,
    ) -> Result<JobId, EnqueueError>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        let job = self.client.prepare(&args, opts)?;
        let counts = crate::telemetry::enqueue_counts(std::slice::from_ref(&job));
        let ids = self
            .pg
            .job_insert_many_tx(tx, JobInsertManyParams { jobs: vec![job] })
            .await?;
        crate::telemetry::enqueued(counts);
        Ok(ids[0].id)
    }

    /// Enqueues many prepared jobs inside the caller's transaction, in one round trip.
    pub async fn insert_prepared_tx<C>(
        &self,
        tx: &C,
        jobs: Vec<backlog_storage::JobInsert>,
    ) -> Result<Vec<crate::InsertOutcome>, EnqueueError>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        let counts = crate::telemetry::enqueue_counts(&jobs);
        let ids = self
            .pg
            .job_insert_many_tx(tx, JobInsertManyParams { jobs })
            .await?;
        crate::telemetry::enqueued(counts);
        Ok(ids)
    }

    /// Inserts a workflow inside the caller's transaction (or on any connection): its jobs and
    /// dependencies exist if and only if the caller commits.
    ///
    /// # Errors
    ///
    /// As for [`Client::workflow_insert`](crate::Client::workflow_insert); after a database
    /// error inside a transaction, roll it back.
    pub async fn workflow_insert_tx<C>(
        &self,
        tx: &C,
        workflow: crate::Workflow,
    ) -> Result<backlog_storage::WorkflowInsertResult, crate::WorkflowError>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        let params = self.client.workflow_prepare(workflow)?;
        let counts = crate::telemetry::enqueue_counts(&params.jobs);
        let result = self
            .pg
            .workflow_insert_tx(tx, params)
            .await
            .map_err(|e| crate::WorkflowError::Insert(e.into()))?;
        crate::telemetry::enqueued(counts);
        Ok(result)
    }

    /// The PostgreSQL storage.
    pub fn storage_pg(&self) -> &PgStorage {
        &self.pg
    }
}

impl Deref for PgClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}
