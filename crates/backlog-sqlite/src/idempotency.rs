//! Idempotency keys on SQLite: looked up and stored in the insert's write transaction, which
//! SQLite's single writer serializes, and pruned by the cleaner.

use backlog_storage::{Error, IdempotencyInsert, IdempotencyPruneParams};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::from_sqlite;
use crate::{sql, time};

/// A job's idempotency key, encoded for the insert.
pub(crate) struct EncodedKey {
    key: String,
    now: String,
    expires_at: String,
}

impl EncodedKey {
    /// `now`: the writer's clock, unless the caller overrides it.
    pub(crate) fn new(idempotency: IdempotencyInsert, now: DateTime<Utc>) -> EncodedKey {
        let now = idempotency.now.unwrap_or(now);
        EncodedKey {
            key: idempotency.key,
            now: time::encode(now),
            expires_at: time::add(now, idempotency.window),
        }
    }
}

/// The job the key was stored with, if its window has not ended.
pub(crate) fn find(conn: &Connection, key: &EncodedKey) -> Result<Option<JobId>, Error> {
    conn.prepare_cached(sql::IDEMPOTENCY_FIND)
        .and_then(|mut s| {
            s.query_row(named_params! { ":key": key.key, ":now": key.now }, |row| {
                row.get(0)
            })
            .optional()
        })
        .map_err(from_sqlite)
}

/// Stores the key with the job inserted under it.
pub(crate) fn store(conn: &Connection, key: &EncodedKey, job_id: JobId) -> Result<(), Error> {
    conn.prepare_cached(sql::IDEMPOTENCY_STORE)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":key": key.key,
                ":job_id": job_id,
                ":expires_at": key.expires_at,
            })
        })
        .map_err(from_sqlite)?;
    Ok(())
}

/// Deletes up to `params.limit` expired keys.
pub(crate) fn prune(conn: &Connection, params: &IdempotencyPruneParams) -> Result<u64, Error> {
    let now = params.now.unwrap_or_else(time::now);
    let deleted = conn
        .prepare_cached(sql::IDEMPOTENCY_PRUNE)
        .and_then(|mut s| {
            s.execute(named_params! { ":now": time::encode(now), ":limit": params.limit })
        })
        .map_err(from_sqlite)?;
    Ok(deleted as u64)
}
