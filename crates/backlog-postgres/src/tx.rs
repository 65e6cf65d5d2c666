//! Transactional enqueue: inserting jobs on the caller's own connection or transaction, so that
//! the jobs exist if and only if the caller's transaction commits.

use backlog_storage::{DedupedBatch, Error, JobInsertManyParams, JobInsertResult};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::GenericClient;

use crate::insert::{self, InsertArrays};
use crate::{error, PgStorage};

pub(crate) const ENTER: &str = include_str!("../sql/search_path_enter.sql");
pub(crate) const LEAVE: &str = include_str!("../sql/search_path_leave.sql");

impl PgStorage {
    /// Inserts jobs like [`Storage::job_insert_many`](backlog_storage::Storage::job_insert_many),
    /// on `client`: typically the caller's open transaction, so the jobs commit or roll back with
    /// the caller's own writes. Listeners are woken when (and only if) it commits.
    ///
    /// Works with `tokio_postgres::{Client, Transaction}`; pass a `deadpool_postgres` client or
    /// transaction dereferenced (`&*transaction`, `&**client`).
    ///
    /// The connection's `search_path` is pointed at Backlog's schema for the insert and restored
    /// after it; the three statements are pipelined in one round trip.
    ///
    /// ```no_run
    /// # async fn run(storage: backlog_postgres::PgStorage, pool: deadpool_postgres::Pool)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use backlog_storage::{JobInsert, JobInsertManyParams};
    ///
    /// let mut client = pool.get().await?;
    /// let tx = client.transaction().await?;
    /// tx.execute("UPDATE account SET welcomed = true WHERE id = 1", &[]).await?;
    /// let jobs = vec![JobInsert::new("default", "send_welcome", serde_json::json!({"id": 1}))];
    /// storage.job_insert_many_tx(&*tx, JobInsertManyParams { jobs }).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for the pooled insert. After an error inside a transaction, PostgreSQL rejects further
    /// statements until the caller rolls back.
    pub async fn job_insert_many_tx<C: GenericClient + Sync>(
        &self,
        client: &C,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        backlog_storage::check_idempotency(&params.jobs)?;
        let mut batch = DedupedBatch::new(params.jobs);
        let arrays =
            InsertArrays::new(std::mem::take(&mut batch.jobs), self.notify_channel(), true);
        let typed = arrays.typed_params();
        let schema = self.schema();
        // Pipelined: tokio-postgres sends all three before reading any response.
        let enter_params = [(&schema as &(dyn ToSql + Sync), Type::TEXT)];
        let (enter, rows, leave) = tokio::join!(
            client.query_typed(ENTER, &enter_params),
            client.query_typed(arrays.sql(), &typed),
            client.query_typed(LEAVE, &[]),
        );
        let rows = rows.map_err(error::pg)?;
        enter.map_err(error::pg)?;
        leave.map_err(error::pg)?;
        Ok(batch.results(&insert::results(&rows)?))
    }

    /// Inserts jobs like [`PgStorage::job_insert_many_tx`], on an sqlx connection (typically
    /// `&mut *transaction` of an `sqlx::Transaction<'_, Postgres>`).
    ///
    /// # Errors
    ///
    /// As for the pooled insert; driver errors are classified by SQLSTATE.
    #[cfg(feature = "sqlx")]
    pub async fn job_insert_many_sqlx(
        &self,
        conn: &mut sqlx::PgConnection,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        crate::tx_sqlx::insert(self, conn, params).await
    }
}
