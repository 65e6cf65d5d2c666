//! Settling after jobs are finalized: releasing or cancelling workflow dependants and counting
//! batch members, in the write transaction that finalized the jobs (see `docs/workflows.md`).
//!
//! Each step is one statement over every job of the step, so a fan-in of 10,000 jobs costs one
//! statement per level of the graph, not one per job. The single writer serializes settlements.

use backlog_storage::{
    callback_args, callback_due, BatchCounts, BatchId, BatchRow, CallbackOn, Error, JobInsert,
};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, Row};

use crate::error::{decode, from_sqlite};
use crate::row::{get, optional_timestamp, timestamp};
use crate::{insert, sql, time};

/// A JSON array of ids, the way the statements take lists.
pub(crate) fn id_list(ids: &[i64]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

/// Settles the dependants and batches of `finalized`, jobs this transaction just finalized.
/// Returns the queues that got available jobs (dependants released, callbacks enqueued), to
/// wake after the commit.
pub(crate) fn settle(
    conn: &Connection,
    finalized: Vec<JobId>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    if finalized.is_empty() {
        return Ok(Vec::new());
    }
    let now_text = time::encode(now);
    let mut queues: Vec<String> = Vec::new();
    let mut batched = finalized.clone();
    let mut level = finalized;
    let mut statement = conn
        .prepare_cached(sql::JOB_DEPENDANTS_SETTLE)
        .map_err(from_sqlite)?;
    while !level.is_empty() {
        let mut rows = statement
            .query(named_params! { ":ids": id_list(&level), ":now": now_text })
            .map_err(from_sqlite)?;
        level = Vec::new();
        while let Some(row) = rows.next().map_err(from_sqlite)? {
            let id: JobId = get(row, "id")?;
            let state: String = get(row, "state")?;
            match state.as_str() {
                "cancelled" => {
                    level.push(id);
                    if get(row, "batched")? {
                        batched.push(id);
                    }
                }
                "available" => {
                    let queue: String = get(row, "queue")?;
                    if !queues.contains(&queue) {
                        queues.push(queue);
                    }
                }
                _ => {}
            }
        }
    }
    settle_batches(conn, batched, Vec::new(), now, &mut queues)?;
    Ok(queues)
}

/// Counts finished jobs into their batches, finishes the batches that are due (`due`, and
/// those the counts make due), enqueues their callbacks (adding their queues to `queues`) and
/// counts them into their parents, up the tree.
pub(crate) fn settle_batches(
    conn: &Connection,
    mut jobs: Vec<JobId>,
    mut due: Vec<BatchId>,
    now: DateTime<Utc>,
    queues: &mut Vec<String>,
) -> Result<(), Error> {
    let now_text = time::encode(now);
    let mut children: Vec<BatchId> = Vec::new();
    loop {
        if !jobs.is_empty() || !children.is_empty() {
            let mut count = conn.prepare_cached(sql::BATCH_COUNT).map_err(from_sqlite)?;
            let mut rows = count
                .query(named_params! {
                    ":jobs": id_list(&jobs),
                    ":children": id_list(&children),
                })
                .map_err(from_sqlite)?;
            while let Some(row) = rows.next().map_err(from_sqlite)? {
                if get(row, "due")? {
                    due.push(get(row, "id")?);
                }
            }
        }
        jobs.clear();
        children.clear();
        if due.is_empty() {
            return Ok(());
        }
        let mut finish = conn
            .prepare_cached(sql::BATCH_FINISH)
            .map_err(from_sqlite)?;
        let mut rows = finish
            .query(named_params! { ":ids": id_list(&due), ":now": now_text })
            .map_err(from_sqlite)?;
        due.clear();
        let mut callbacks = Vec::new();
        while let Some(row) = rows.next().map_err(from_sqlite)? {
            let batch = batch_row(row)?;
            if batch.parent.is_some() {
                children.push(batch.counts.id);
            }
            if let Some(job) = callback_job(row, &batch)? {
                callbacks.push((batch.counts.id, job));
            }
        }
        drop(rows);
        for (batch, job) in callbacks {
            let insert = insert::InsertBatch::new(vec![job], now);
            let id = insert::job_insert_many(conn, &insert)?
                .first()
                .map(|r| r.id)
                .ok_or_else(|| decode("callback_job_id", NoCallbackId))?;
            for queue in insert.available {
                if !queues.contains(&queue) {
                    queues.push(queue);
                }
            }
            conn.prepare_cached(sql::BATCH_CALLBACK_SET)
                .and_then(|mut s| s.execute(named_params! { ":id": batch, ":job_id": id }))
                .map_err(from_sqlite)?;
        }
    }
}

/// The callback job of a batch that just finished, if it has one and it is due.
fn callback_job(row: &Row<'_>, batch: &BatchRow) -> Result<Option<JobInsert>, Error> {
    let (Some(kind), Some(queue)) = (
        get::<Option<String>>(row, "callback_kind")?,
        get::<Option<String>>(row, "callback_queue")?,
    ) else {
        return Ok(None);
    };
    if !callback_due(batch.callback_on, &batch.counts) {
        return Ok(None);
    }
    let args: Option<String> = get(row, "callback_args")?;
    let args: serde_json::Value = serde_json::from_str(args.as_deref().unwrap_or("{}"))
        .map_err(|e| decode("callback_args", e))?;
    let args =
        callback_args(&args, &batch.counts).ok_or_else(|| decode("callback_args", NoCallbackId))?;
    let mut job = JobInsert::new(queue, kind, args);
    job.priority = get(row, "callback_priority")?;
    job.max_attempts = get(row, "callback_max_attempts")?;
    Ok(Some(job))
}

/// Decodes a `backlog_batch` row.
pub(crate) fn batch_row(row: &Row<'_>) -> Result<BatchRow, Error> {
    let count = |name: &str| -> Result<u64, Error> {
        let n: i64 = get(row, name)?;
        Ok(n.unsigned_abs())
    };
    Ok(BatchRow {
        counts: BatchCounts {
            id: get(row, "id")?,
            total: count("total")?,
            succeeded: count("succeeded")?,
            failed: count("failed")?,
            cancelled: count("cancelled")?,
        },
        parent: get(row, "parent_id")?,
        description: get(row, "description")?,
        callback_kind: get(row, "callback_kind")?,
        callback_on: CallbackOn::from_code(get(row, "callback_on")?),
        created_at: timestamp(row, "created_at")?,
        sealed_at: optional_timestamp(row, "sealed_at")?,
        finished_at: optional_timestamp(row, "finished_at")?,
        callback_job_id: get(row, "callback_job_id")?,
    })
}

/// A callback insert that returned no id, or stored args that are not an object.
#[derive(Debug)]
struct NoCallbackId;

impl std::fmt::Display for NoCallbackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a batch callback could not be built or inserted")
    }
}

impl std::error::Error for NoCallbackId {}
