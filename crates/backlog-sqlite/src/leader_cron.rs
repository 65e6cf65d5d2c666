//! The SQL of the leader election (`leader_*`) and periodic job (`cron_*`) methods, executed
//! synchronously on the connection `storage.rs` picked. Times are computed here from the
//! caller's `now`.

use backlog_storage::{
    CronDefinition, CronRow, CronTickParams, CronUpsertParams, Error, Leader, LeaderElectParams,
    LeaderResignParams,
};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, Row};

use crate::error::{decode, from_sqlite};
use crate::insert::{self, InsertBatch};
use crate::row::{get, json, optional_timestamp, timestamp};
use crate::{sql, time};

/// Takes (`elect`) or extends (`reelect`) a lease; returns whether the caller holds it.
pub(crate) fn leader_elect(
    conn: &Connection,
    statement: &str,
    params: &LeaderElectParams,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(statement)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":name": params.name,
                ":leader_id": params.leader_id,
                ":now": time::encode(now),
                ":expires_at": time::add(now, params.ttl),
            })
        })
        .map_err(from_sqlite)?;
    Ok(changed > 0)
}

/// The elect statement binds `:now`, the reelect one does not: SQLite rejects unknown names,
/// so reelect gets its own binding.
pub(crate) fn leader_reelect(
    conn: &Connection,
    params: &LeaderElectParams,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(sql::LEADER_ATTEMPT_REELECT)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":name": params.name,
                ":leader_id": params.leader_id,
                ":expires_at": time::add(now, params.ttl),
            })
        })
        .map_err(from_sqlite)?;
    Ok(changed > 0)
}

pub(crate) fn leader_resign(conn: &Connection, params: &LeaderResignParams) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(sql::LEADER_RESIGN)
        .and_then(|mut s| {
            s.execute(named_params! { ":name": params.name, ":leader_id": params.leader_id })
        })
        .map_err(from_sqlite)?;
    Ok(changed > 0)
}

pub(crate) fn leader_get(conn: &Connection, name: &str) -> Result<Option<Leader>, Error> {
    let mut statement = conn.prepare_cached(sql::LEADER_GET).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":name": name })
        .map_err(from_sqlite)?;
    let Some(row) = rows.next().map_err(from_sqlite)? else {
        return Ok(None);
    };
    Ok(Some(Leader {
        name: get(row, "name")?,
        leader_id: get(row, "leader_id")?,
        elected_at: timestamp(row, "elected_at")?,
        expires_at: timestamp(row, "expires_at")?,
    }))
}

pub(crate) fn cron_upsert(
    conn: &Connection,
    params: &CronUpsertParams,
    now: DateTime<Utc>,
) -> Result<CronRow, Error> {
    let d = &params.definition;
    let mut statement = conn.prepare_cached(sql::CRON_UPSERT).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":name": d.name,
            ":kind": d.kind,
            ":args": d.args.to_string(),
            ":queue": d.queue,
            ":priority": d.priority,
            ":max_attempts": d.max_attempts,
            ":tags": serde_json::Value::from(d.tags.clone()).to_string(),
            ":spec": d.spec,
            ":timezone": d.timezone,
            ":missed_policy": d.missed_policy.as_str(),
            ":enabled": d.enabled,
            ":next_run_at": time::encode(params.next_run_at),
            ":now": time::encode(now),
        })
        .map_err(from_sqlite)?;
    let row = rows
        .next()
        .map_err(from_sqlite)?
        .ok_or_else(|| decode("name", NoRow))?;
    cron_row(row)
}

pub(crate) fn cron_delete(conn: &Connection, name: &str) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(sql::CRON_DELETE)
        .and_then(|mut s| s.execute(named_params! { ":name": name }))
        .map_err(from_sqlite)?;
    Ok(changed > 0)
}

pub(crate) fn cron_list(conn: &Connection) -> Result<Vec<CronRow>, Error> {
    let mut statement = conn.prepare_cached(sql::CRON_LIST).map_err(from_sqlite)?;
    let mut rows = statement.query([]).map_err(from_sqlite)?;
    let mut list = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        list.push(cron_row(row)?);
    }
    Ok(list)
}

/// The compare-and-set, then the insert, in the writer's transaction. A failed CAS changes
/// nothing, so there is nothing to roll back.
pub(crate) fn cron_tick(
    conn: &Connection,
    params: &CronTickParams,
    batch: Option<&InsertBatch>,
) -> Result<Option<Vec<JobId>>, Error> {
    let taken = conn
        .prepare_cached(sql::CRON_TICK)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":name": params.name,
                ":expected": time::encode(params.expected),
                ":next_run_at": time::encode(params.next_run_at),
                ":last_run_at": time::encode(params.last_run_at),
            })
        })
        .map_err(from_sqlite)?;
    if taken == 0 {
        return Ok(None);
    }
    match batch {
        Some(batch) => insert::job_insert_many(conn, batch)
            .map(|results| Some(results.into_iter().map(|r| r.id).collect())),
        None => Ok(Some(Vec::new())),
    }
}

fn cron_row(row: &Row<'_>) -> Result<CronRow, Error> {
    let policy: String = get(row, "missed_policy")?;
    Ok(CronRow {
        definition: CronDefinition {
            name: get(row, "name")?,
            kind: get(row, "kind")?,
            args: json(row, "args")?,
            queue: get(row, "queue")?,
            priority: get(row, "priority")?,
            max_attempts: get(row, "max_attempts")?,
            tags: json(row, "tags")?,
            spec: get(row, "spec")?,
            timezone: get(row, "timezone")?,
            missed_policy: policy.parse().map_err(|e| decode("missed_policy", e))?,
            enabled: get(row, "enabled")?,
        },
        next_run_at: timestamp(row, "next_run_at")?,
        last_run_at: optional_timestamp(row, "last_run_at")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A statement that always returns one row returned none.
#[derive(Debug)]
struct NoRow;

impl std::fmt::Display for NoRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the statement returned no row")
    }
}

impl std::error::Error for NoRow {}
