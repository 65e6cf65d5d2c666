//! Settling after jobs are finalized: releasing or cancelling workflow dependants and counting
//! batch members, in the transaction that finalized the jobs (see `docs/workflows.md`).
//!
//! Each step is one statement over every job of the step, so a fan-in of 10,000 jobs costs one
//! statement per level of the graph, not one per job.

use backlog_storage::{
    callback_args, callback_due, BatchCounts, BatchId, BatchRow, CallbackOn, Error, JobInsert,
    JobInsertManyParams,
};
use backlog_types::JobId;
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{error, PgStorage};

const DEPENDANTS_SETTLE: &str = include_str!("../sql/job_dependants_settle.sql");
const BATCH_COUNT: &str = include_str!("../sql/batch_count.sql");
const BATCH_FINISH: &str = include_str!("../sql/batch_finish.sql");
const BATCH_CALLBACK_SET: &str = include_str!("../sql/batch_callback_set.sql");

/// Runs one statement on the transaction, prepared once per connection.
pub(crate) async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Error> {
    let statement = tx.prepare_cached(sql).await.map_err(error::pg)?;
    tx.query(&statement, params).await.map_err(error::pg)
}

impl PgStorage {
    /// Runs one statement that may finalize jobs and settles the jobs it finalized (`finalized`
    /// picks them from the rows), in one transaction; wakes the queues that got available jobs
    /// after the commit.
    pub(crate) async fn query_settled(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        finalized: impl Fn(&[Row]) -> Result<Vec<JobId>, Error>,
    ) -> Result<Vec<Row>, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let rows = query(&tx, sql, params).await?;
        let queues = self.settle(&tx, finalized(&rows)?).await?;
        tx.commit().await.map_err(error::pg)?;
        self.wake(queues);
        Ok(rows)
    }

    /// Settles the dependants and batches of `finalized`, jobs this transaction just finalized.
    /// Returns the queues that got available jobs, to wake after the commit.
    pub(crate) async fn settle(
        &self,
        tx: &Transaction<'_>,
        finalized: Vec<JobId>,
    ) -> Result<Vec<String>, Error> {
        if finalized.is_empty() {
            return Ok(Vec::new());
        }
        let mut queues: Vec<String> = Vec::new();
        let mut batched = finalized.clone();
        let mut level = finalized;
        while !level.is_empty() {
            let rows = query(tx, DEPENDANTS_SETTLE, &[&level]).await?;
            level = Vec::new();
            for row in &rows {
                let id: JobId = row.try_get("id").map_err(error::decode)?;
                let state: &str = row.try_get("state").map_err(error::decode)?;
                match state {
                    "cancelled" => {
                        level.push(id);
                        if row.try_get("batched").map_err(error::decode)? {
                            batched.push(id);
                        }
                    }
                    "available" => {
                        let queue: String = row.try_get("queue").map_err(error::decode)?;
                        if !queues.contains(&queue) {
                            queues.push(queue);
                        }
                    }
                    _ => {}
                }
            }
        }
        self.settle_batches(tx, batched, Vec::new()).await?;
        Ok(queues)
    }

    /// Counts finished jobs into their batches, finishes the batches that are due (`due`, and
    /// those the counts make due), enqueues their callbacks and counts them into their parents,
    /// up the tree. Callback jobs wake their queues on commit (they notify from the insert).
    pub(crate) async fn settle_batches(
        &self,
        tx: &Transaction<'_>,
        mut jobs: Vec<JobId>,
        mut due: Vec<BatchId>,
    ) -> Result<(), Error> {
        let mut children: Vec<BatchId> = Vec::new();
        loop {
            if !jobs.is_empty() || !children.is_empty() {
                for row in query(tx, BATCH_COUNT, &[&jobs, &children]).await? {
                    if row.try_get("due").map_err(error::decode)? {
                        due.push(row.try_get("id").map_err(error::decode)?);
                    }
                }
            }
            jobs.clear();
            children.clear();
            if due.is_empty() {
                return Ok(());
            }
            let finished = query(tx, BATCH_FINISH, &[&due]).await?;
            due.clear();
            let mut callbacks = Vec::new();
            let mut called = Vec::new();
            for row in &finished {
                let batch = batch_row(row)?;
                if batch.parent.is_some() {
                    children.push(batch.counts.id);
                }
                if let Some(job) = callback_job(row, &batch)? {
                    callbacks.push(job);
                    called.push(batch.counts.id);
                }
            }
            if !callbacks.is_empty() {
                let inserted = self
                    .job_insert_many_tx(&**tx, JobInsertManyParams { jobs: callbacks })
                    .await?;
                let ids: Vec<JobId> = inserted.iter().map(|r| r.id).collect();
                query(tx, BATCH_CALLBACK_SET, &[&called, &ids]).await?;
            }
        }
    }
}

/// The callback job of a batch that just finished, if it has one and it is due.
fn callback_job(row: &Row, batch: &BatchRow) -> Result<Option<JobInsert>, Error> {
    let (Some(kind), Some(queue)) = (
        row.try_get::<_, Option<String>>("callback_kind")
            .map_err(error::decode)?,
        row.try_get::<_, Option<String>>("callback_queue")
            .map_err(error::decode)?,
    ) else {
        return Ok(None);
    };
    if !callback_due(batch.callback_on, &batch.counts) {
        return Ok(None);
    }
    let args: serde_json::Value = row.try_get("callback_args").map_err(error::decode)?;
    let args = callback_args(&args, &batch.counts).ok_or_else(|| {
        error::decode(NotAnObject {
            batch: batch.counts.id,
        })
    })?;
    let mut job = JobInsert::new(queue, kind, args);
    job.priority = row.try_get("callback_priority").map_err(error::decode)?;
    job.max_attempts = row
        .try_get("callback_max_attempts")
        .map_err(error::decode)?;
    Ok(Some(job))
}

/// Decodes a `backlog_batch` row.
pub(crate) fn batch_row(row: &Row) -> Result<BatchRow, Error> {
    let count = |name: &str| -> Result<u64, Error> {
        let n: i64 = row.try_get(name).map_err(error::decode)?;
        Ok(n.unsigned_abs())
    };
    let on: i16 = row.try_get("callback_on").map_err(error::decode)?;
    Ok(BatchRow {
        counts: BatchCounts {
            id: row.try_get("id").map_err(error::decode)?,
            total: count("total")?,
            succeeded: count("succeeded")?,
            failed: count("failed")?,
            cancelled: count("cancelled")?,
        },
        parent: row.try_get("parent_id").map_err(error::decode)?,
        description: row.try_get("description").map_err(error::decode)?,
        callback_kind: row.try_get("callback_kind").map_err(error::decode)?,
        callback_on: CallbackOn::from_code(on),
        created_at: row.try_get("created_at").map_err(error::decode)?,
        sealed_at: row.try_get("sealed_at").map_err(error::decode)?,
        finished_at: row.try_get("finished_at").map_err(error::decode)?,
        callback_job_id: row.try_get("callback_job_id").map_err(error::decode)?,
    })
}

/// A stored callback whose args are not a JSON object (they are checked at creation).
#[derive(Debug)]
struct NotAnObject {
    batch: BatchId,
}

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {}: stored callback args are not a JSON object",
            self.batch
        )
    }
}

impl std::error::Error for NotAnObject {}
