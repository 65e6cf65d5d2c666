//! The SQL of the methods behind the HTTP API and dashboard: `job_search`, `job_throughput`,
//! `queue_latency` and the worker registry (`worker_*`), executed synchronously on the
//! connection `storage.rs` picked.

use backlog_storage::{
    Error, JobSearchParams, JobThroughputParams, QueueLatency, ThroughputBucket,
    WorkerHeartbeatParams, WorkerListParams, WorkerRow,
};
use backlog_types::{JobRow, JobState};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, Row};
use serde::Serialize;

use crate::error::{decode, from_sqlite};
use crate::row::{get, job_rows, json, timestamp};
use crate::{sql, time};

/// A list criterion as a JSON array, or `None` when it is empty (no criterion).
fn json_list<T: Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
}

/// Jobs matching the search, newest first.
pub(crate) fn job_search(conn: &Connection, p: &JobSearchParams) -> Result<Vec<JobRow>, Error> {
    let states: Vec<&str> = p.states.iter().map(|s| s.as_str()).collect();
    let args_path = p.args.as_ref().map(|m| m.sqlite_path());
    let args_value = p.args.as_ref().map(|m| m.value.to_string());
    let meta_path = p.metadata.as_ref().map(|m| m.sqlite_path());
    let meta_value = p.metadata.as_ref().map(|m| m.value.to_string());
    let mut statement = conn.prepare_cached(sql::JOB_SEARCH).map_err(from_sqlite)?;
    let rows = statement
        .query(named_params! {
            ":ids": json_list(&p.ids),
            ":states": json_list(&states),
            ":queues": json_list(&p.queues),
            ":kinds": json_list(&p.kinds),
            ":priority": p.priority,
            ":tags": json_list(&p.tags),
            ":fingerprint": p.fingerprint,
            ":created_after": p.created_after.map(time::encode),
            ":created_before": p.created_before.map(time::encode),
            ":args_path": args_path,
            ":args_value": args_value,
            ":metadata_path": meta_path,
            ":metadata_value": meta_value,
            ":before_id": p.before_id,
            ":limit": p.limit.max(1),
        })
        .map_err(from_sqlite)?;
    job_rows(rows)
}

/// Jobs finalized per minute and state.
pub(crate) fn job_throughput(
    conn: &Connection,
    params: &JobThroughputParams,
) -> Result<Vec<ThroughputBucket>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_THROUGHPUT)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":since": time::encode(params.since) })
        .map_err(from_sqlite)?;
    let mut buckets = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let minute: String = get(row, "minute")?;
        let state: String = get(row, "state")?;
        let count: i64 = get(row, "count")?;
        buckets.push(ThroughputBucket {
            minute: time::decode("minute", &format!("{minute}:00Z"))?,
            state: state.parse::<JobState>().map_err(|e| decode("state", e))?,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(buckets)
}

/// The oldest available job of each queue.
pub(crate) fn queue_latency(conn: &Connection) -> Result<Vec<QueueLatency>, Error> {
    let mut statement = conn
        .prepare_cached(sql::QUEUE_LATENCY)
        .map_err(from_sqlite)?;
    let mut rows = statement.query([]).map_err(from_sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        out.push(QueueLatency {
            queue: get(row, "queue")?,
            oldest_available_at: timestamp(row, "oldest_available_at")?,
        });
    }
    Ok(out)
}

/// Registers or refreshes a worker.
pub(crate) fn worker_heartbeat(
    conn: &Connection,
    p: &WorkerHeartbeatParams,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let kinds = serde_json::to_string(&p.kinds).map_err(|e| decode("kinds", e))?;
    let queues = serde_json::to_string(&p.queues).map_err(|e| decode("queues", e))?;
    conn.prepare_cached(sql::WORKER_HEARTBEAT)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":id": p.id,
                ":host": p.host,
                ":pid": p.pid,
                ":kinds": kinds,
                ":queues": queues,
                ":capacity": p.capacity,
                ":in_flight": p.in_flight,
                ":origin": p.origin,
                ":now": time::encode(now),
            })
        })
        .map_err(from_sqlite)
        .map(drop)
}

/// Workers heard from since a time.
pub(crate) fn worker_list(
    conn: &Connection,
    params: &WorkerListParams,
) -> Result<Vec<WorkerRow>, Error> {
    let mut statement = conn.prepare_cached(sql::WORKER_LIST).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":seen_since": time::encode(params.seen_since) })
        .map_err(from_sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        out.push(worker_row(row)?);
    }
    Ok(out)
}

/// Removes a worker's row.
pub(crate) fn worker_delete(conn: &Connection, id: &str) -> Result<bool, Error> {
    conn.prepare_cached(sql::WORKER_DELETE)
        .and_then(|mut s| s.execute(named_params! { ":id": id }))
        .map(|n| n > 0)
        .map_err(from_sqlite)
}

fn worker_row(row: &Row<'_>) -> Result<WorkerRow, Error> {
    Ok(WorkerRow {
        report: WorkerHeartbeatParams {
            id: get(row, "id")?,
            host: get(row, "host")?,
            pid: get(row, "pid")?,
            kinds: json(row, "kinds")?,
            queues: json(row, "queues")?,
            capacity: get(row, "capacity")?,
            in_flight: get(row, "in_flight")?,
            origin: get(row, "origin")?,
            now: None,
        },
        started_at: timestamp(row, "started_at")?,
        heartbeat_at: timestamp(row, "heartbeat_at")?,
    })
}
