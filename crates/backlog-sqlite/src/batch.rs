//! Batches: creating, adding members, sealing, reading, pruning.

use backlog_storage::{
    batch_missing, batch_not_open, validate_idempotency_key, BatchCreateParams, BatchId,
    BatchListParams, BatchRow, Error, JobInsertResult, PruneParams, Pruned,
};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::from_sqlite;
use crate::insert::{self, InsertBatch};
use crate::settle::{batch_row, id_list, settle_batches};
use crate::{sql, time};

/// Counts `n` new members into an open batch; refused if it is missing or sealed.
fn grow(conn: &Connection, id: BatchId, n: i64) -> Result<(), Error> {
    let grown: Option<BatchId> = conn
        .prepare_cached(sql::BATCH_GROW)
        .and_then(|mut s| {
            s.query_row(named_params! { ":id": id, ":n": n }, |row| row.get(0))
                .optional()
        })
        .map_err(from_sqlite)?;
    grown.map(|_| ()).ok_or_else(|| batch_not_open(id))
}

/// Creates a batch (counted into its open parent).
pub(crate) fn create(
    conn: &Connection,
    params: &BatchCreateParams,
    now: DateTime<Utc>,
) -> Result<BatchId, Error> {
    if let Some(key) = &params.idempotency_key {
        validate_idempotency_key(key)?;
        let found: Option<BatchId> = conn
            .prepare_cached(sql::BATCH_FIND_KEY)
            .and_then(|mut s| {
                s.query_row(named_params! { ":key": key }, |row| row.get(0))
                    .optional()
            })
            .map_err(from_sqlite)?;
        if let Some(id) = found {
            return Ok(id);
        }
    }
    if let Some(parent) = params.parent {
        grow(conn, parent, 1)?;
    }
    let callback = params.callback.as_ref();
    conn.prepare_cached(sql::BATCH_CREATE)
        .and_then(|mut s| {
            s.query_row(
                named_params! {
                    ":parent": params.parent,
                    ":description": params.description,
                    ":queue": callback.map(|c| c.queue.as_str()),
                    ":kind": callback.map(|c| c.kind.as_str()),
                    ":args": callback.map(|c| c.args.to_string()),
                    ":priority": callback.map(|c| c.priority),
                    ":max_attempts": callback.map(|c| c.max_attempts),
                    ":on": callback.map_or(1, |c| c.on.code()),
                    ":now": time::encode(now),
                    ":key": params.idempotency_key,
                },
                |row| row.get(0),
            )
        })
        .map_err(from_sqlite)
}

/// Inserts jobs as members of an open batch; returns their results. A job whose idempotency
/// key was used before is neither inserted nor counted.
pub(crate) fn add(
    conn: &Connection,
    id: BatchId,
    batch: &InsertBatch,
    n: i64,
) -> Result<Vec<JobInsertResult>, Error> {
    if let Err(not_open) = grow(conn, id, n) {
        // A resend of members that were all added before (the batch may have been sealed or
        // even finished since) is answered with them; an error rolls back whatever the
        // insert did for unknown keys.
        if batch.all_keyed() {
            let inserted = insert::job_insert_many(conn, batch)?;
            if inserted.iter().all(|r| r.duplicate) {
                return Ok(inserted);
            }
        }
        return Err(not_open);
    }
    let inserted = insert::job_insert_many(conn, batch)?;
    let ids: Vec<JobId> = inserted
        .iter()
        .filter(|r| !r.duplicate)
        .map(|r| r.id)
        .collect();
    let duplicates = n - i64::try_from(ids.len()).unwrap_or(i64::MAX);
    if duplicates > 0 {
        grow(conn, id, -duplicates)?;
    }
    conn.prepare_cached(sql::JOB_BATCH_SET)
        .and_then(|mut s| s.execute(named_params! { ":batch": id, ":ids": id_list(&ids) }))
        .map_err(from_sqlite)?;
    Ok(inserted)
}

/// Seals a batch, finishing it if every member already finished; returns the batch and the
/// queues that got a callback job.
pub(crate) fn seal(
    conn: &Connection,
    id: BatchId,
    now: DateTime<Utc>,
) -> Result<(BatchRow, Vec<String>), Error> {
    let due: Option<bool> = conn
        .prepare_cached(sql::BATCH_SEAL)
        .and_then(|mut s| {
            s.query_row(
                named_params! { ":id": id, ":now": time::encode(now) },
                |row| row.get("due"),
            )
            .optional()
        })
        .map_err(from_sqlite)?;
    let due = due.ok_or_else(|| batch_missing(id))?;
    let mut queues = Vec::new();
    if due {
        settle_batches(conn, Vec::new(), vec![id], now, &mut queues)?;
    }
    let batch = get(conn, id)?.ok_or_else(|| batch_missing(id))?;
    Ok((batch, queues))
}

/// One batch.
pub(crate) fn get(conn: &Connection, id: BatchId) -> Result<Option<BatchRow>, Error> {
    let mut statement = conn.prepare_cached(sql::BATCH_GET).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":id": id })
        .map_err(from_sqlite)?;
    rows.next().map_err(from_sqlite)?.map(batch_row).transpose()
}

/// Batches, newest first.
pub(crate) fn list(conn: &Connection, params: &BatchListParams) -> Result<Vec<BatchRow>, Error> {
    let mut statement = conn.prepare_cached(sql::BATCH_LIST).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":before_id": params.before_id, ":limit": params.limit })
        .map_err(from_sqlite)?;
    let mut batches = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        batches.push(batch_row(row)?);
    }
    Ok(batches)
}

/// One window of the cleaner's sweep ([`PruneParams`]): deletes the finished batches of the
/// window with no member job or child left.
pub(crate) fn prune(conn: &Connection, params: PruneParams) -> Result<Pruned, Error> {
    if params.limit == 0 {
        return Ok(Pruned::window(0, 0, None, 0));
    }
    let until = crate::workflow::window_end(conn, sql::BATCH_PRUNE_WINDOW, params)?;
    let deleted = conn
        .prepare_cached(sql::BATCH_PRUNE)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":after": params.after,
                ":until": until.unwrap_or(i64::MAX),
            })
        })
        .map_err(from_sqlite)?;
    Ok(Pruned {
        deleted: deleted as u64,
        next: until,
    })
}
