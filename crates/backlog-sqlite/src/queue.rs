//! Fetching (`job_fetch_available`) and flow control on SQLite: the plain claim, fetching from
//! queues with settings (pause, `max_running`, rate limit, fairness), queue administration and
//! rate-limit buckets.
//!
//! Everything that writes runs on the single writer thread, inside its transaction, so a fetch
//! reads the queue's settings, counts its running jobs, takes tokens and claims without any
//! other writer in between: the limits hold across every connection and process using the
//! file. A queue without a settings row costs one primary-key lookup per fetch.

use std::collections::BTreeMap;
use std::time::Duration;

use backlog_storage::{
    queue_bucket, Error, JobFetchAvailableParams, QueueInfo, QueuePauseParams, QueueUpdateParams,
    RateLimit, RateLimitTake,
};
use backlog_types::{JobRow, JobState};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension, Row};

use crate::error::{decode, from_sqlite};
use crate::row::{job_rows, optional_timestamp};
use crate::{sql, time};

/// A queue's settings as the fetch needs them.
struct Settings {
    paused: bool,
    max_running: Option<i64>,
    rate: Option<RateLimit>,
    /// Set when the queue is fair (partition keys).
    fairness: Option<crate::fair::Fairness>,
}

/// Claims jobs as [`claim`] does, within the queue's settings (`job_fetch_available`).
pub(crate) fn job_fetch_available(
    conn: &Connection,
    params: &JobFetchAvailableParams,
) -> Result<Vec<JobRow>, Error> {
    let settings = conn
        .prepare_cached(sql::JOB_FETCH_AVAILABLE_SETTINGS)
        .and_then(|mut s| {
            s.query_row(named_params! { ":queue": params.queue }, |row| {
                let fair: bool = row.get(4)?;
                Ok(Settings {
                    paused: row.get(0)?,
                    max_running: row.get(1)?,
                    rate: rate_limit(row.get(2)?, row.get(3)?),
                    fairness: if fair {
                        Some(crate::fair::Fairness {
                            per_key: row.get(5)?,
                            cursor: row.get(6)?,
                        })
                    } else {
                        None
                    },
                })
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some(settings) = settings else {
        return claim(conn, params);
    };
    if settings.paused {
        return Ok(Vec::new());
    }
    let mut room = i64::from(params.max);
    if let Some(max_running) = settings.max_running {
        let running: i64 = conn
            .prepare_cached(sql::JOB_FETCH_AVAILABLE_RUNNING)
            .and_then(|mut s| s.query_row(named_params! { ":queue": params.queue }, |r| r.get(0)))
            .map_err(from_sqlite)?;
        room = room.min(max_running - running);
    }
    if room <= 0 {
        return Ok(Vec::new());
    }
    let now = params.now.unwrap_or_else(time::now);
    let key = queue_bucket(&params.queue);
    let granted = match settings.rate {
        None => room,
        Some(limit) => {
            let want = u32::try_from(room).unwrap_or(u32::MAX);
            i64::from(rate_limit_take(conn, &key, limit, want, now)?.granted)
        }
    };
    if granted <= 0 {
        return Ok(Vec::new());
    }
    let limited = JobFetchAvailableParams {
        max: u32::try_from(granted).unwrap_or(u32::MAX),
        ..params.clone()
    };
    let rows = match &settings.fairness {
        Some(fairness) => crate::fair::claim(conn, &limited, fairness)?,
        None => claim(conn, &limited)?,
    };
    let unused = granted - rows.len() as i64;
    if settings.rate.is_some() && unused > 0 {
        conn.prepare_cached(sql::JOB_FETCH_AVAILABLE_REFUND)
            .and_then(|mut s| s.execute(named_params! { ":key": key, ":tokens": unused }))
            .map_err(from_sqlite)?;
    }
    Ok(rows)
}

/// Takes up to `want` tokens from the bucket `key`, created full on first use.
pub(crate) fn rate_limit_take(
    conn: &Connection,
    key: &str,
    limit: RateLimit,
    want: u32,
    now: DateTime<Utc>,
) -> Result<RateLimitTake, Error> {
    let stored: Option<(f64, String)> = conn
        .prepare_cached(sql::RATE_LIMIT_GET)
        .and_then(|mut s| {
            s.query_row(named_params! { ":key": key }, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let (available, refilled_at) = match stored {
        None => (f64::from(limit.max), now),
        Some((tokens, at)) => {
            let at = time::decode("refilled_at", &at)?;
            // An explicit `now` before the last refill refills nothing and keeps refilled_at.
            let elapsed = (now - at).to_std().unwrap_or(Duration::ZERO);
            (limit.refill(tokens, elapsed), at.max(now))
        }
    };
    let granted = f64::from(want).min(available.floor()).max(0.0);
    let tokens = available - granted;
    conn.prepare_cached(sql::RATE_LIMIT_TAKE)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":key": key,
                ":max": limit.max,
                ":period_us": time::micros(limit.period).max(1),
                ":tokens": tokens,
                ":refilled_at": time::encode(refilled_at),
            })
        })
        .map_err(from_sqlite)?;
    Ok(RateLimitTake {
        // `granted` is a whole number between 0 and `want`.
        granted: granted as u32,
        tokens_left: tokens,
        retry_after: limit.wait_for_token(tokens),
    })
}

/// Pauses a queue.
pub(crate) fn queue_pause(conn: &Connection, params: &QueuePauseParams) -> Result<(), Error> {
    let now = time::encode(params.now.unwrap_or_else(time::now));
    conn.prepare_cached(sql::QUEUE_PAUSE)
        .and_then(|mut s| s.execute(named_params! { ":queue": params.queue, ":now": now }))
        .map_err(from_sqlite)?;
    Ok(())
}

/// Resumes a queue; whether it was paused.
pub(crate) fn queue_resume(conn: &Connection, params: &QueuePauseParams) -> Result<bool, Error> {
    let now = time::encode(params.now.unwrap_or_else(time::now));
    let changed = conn
        .prepare_cached(sql::QUEUE_RESUME)
        .and_then(|mut s| s.execute(named_params! { ":queue": params.queue, ":now": now }))
        .map_err(from_sqlite)?;
    Ok(changed > 0)
}

/// Changes a queue's limits and returns its settings and counts.
pub(crate) fn queue_update(
    conn: &Connection,
    params: &QueueUpdateParams,
) -> Result<QueueInfo, Error> {
    let rate = params.rate_limit.flatten();
    conn.prepare_cached(sql::QUEUE_UPDATE)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":queue": params.queue,
                ":set_max_running": params.max_running.is_some(),
                ":max_running": params.max_running.flatten(),
                ":set_rate": params.rate_limit.is_some(),
                ":rate_max": rate.map(|r| r.max),
                ":rate_period_us": rate.map(|r| time::micros(r.period).max(1)),
                ":set_partition_max": params.partition_max_running.is_some(),
                ":partition_max_running": params.partition_max_running.flatten(),
                ":now": time::encode(time::now()),
            })
        })
        .map_err(from_sqlite)?;
    queue_get(conn, &params.queue)?
        .ok_or_else(|| decode("queue", MissingQueue(params.queue.clone())))
}

/// One queue's settings and counts.
pub(crate) fn queue_get(conn: &Connection, queue: &str) -> Result<Option<QueueInfo>, Error> {
    let mut statement = conn.prepare_cached(sql::QUEUE_GET).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":queue": queue })
        .map_err(from_sqlite)?;
    rows.next()
        .map_err(from_sqlite)?
        .map(queue_info)
        .transpose()
}

/// Every queue with settings or jobs.
pub(crate) fn queue_list(conn: &Connection) -> Result<Vec<QueueInfo>, Error> {
    let mut statement = conn.prepare_cached(sql::QUEUE_LIST).map_err(from_sqlite)?;
    let mut rows = statement.query([]).map_err(from_sqlite)?;
    let mut queues = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        queues.push(queue_info(row)?);
    }
    Ok(queues)
}

fn rate_limit(max: Option<i64>, period_us: Option<i64>) -> Option<RateLimit> {
    match (max, period_us) {
        (Some(max), Some(period)) => Some(RateLimit {
            max: u32::try_from(max).unwrap_or(u32::MAX),
            period: Duration::from_micros(period.unsigned_abs()),
        }),
        _ => None,
    }
}

fn queue_info(row: &Row<'_>) -> Result<QueueInfo, Error> {
    let counts: String = row.get("counts").map_err(from_sqlite)?;
    let counts: BTreeMap<String, u64> =
        serde_json::from_str(&counts).map_err(|e| decode("counts", e))?;
    let mut by_state = BTreeMap::new();
    for (state, count) in counts {
        let state: JobState = state.parse().map_err(|e| decode("state", e))?;
        by_state.insert(state, count);
    }
    let max_running: Option<i64> = row.get("max_running").map_err(from_sqlite)?;
    Ok(QueueInfo {
        name: row.get("name").map_err(from_sqlite)?,
        paused_at: optional_timestamp(row, "paused_at")?,
        max_running: max_running.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        rate_limit: rate_limit(
            row.get("rate_max").map_err(from_sqlite)?,
            row.get("rate_period_us").map_err(from_sqlite)?,
        ),
        updated_at: optional_timestamp(row, "updated_at")?,
        fair: row
            .get::<_, Option<bool>>("fair")
            .map_err(from_sqlite)?
            .unwrap_or(false),
        partition_max_running: row
            .get::<_, Option<i64>>("partition_max_running")
            .map_err(from_sqlite)?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        counts: by_state,
    })
}

/// The queue written by `queue_update` could not be read back.
#[derive(Debug)]
struct MissingQueue(String);

impl std::fmt::Display for MissingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "queue `{}` vanished right after its update", self.0)
    }
}

impl std::error::Error for MissingQueue {}

/// Claims up to `params.max` available jobs, sorted in run order.
///
/// Three statements rather than one `UPDATE … RETURNING *`: the jobs are read in run order,
/// tokens drawn, and the jobs updated by id; the rows read are then updated here as the database
/// updated them. SQLite answers `RETURNING` by first copying every row into a temporary table,
/// which made the claim the writer thread's costliest statement (docs/benchmarks.md).
pub(crate) fn claim(
    conn: &Connection,
    params: &JobFetchAvailableParams,
) -> Result<Vec<JobRow>, Error> {
    let kinds = if params.kinds.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&params.kinds).map_err(|e| decode("kinds", e))?)
    };
    let mut jobs = {
        let mut statement = conn
            .prepare_cached(sql::JOB_FETCH_AVAILABLE)
            .map_err(from_sqlite)?;
        let rows = statement
            .query(named_params! {
                ":kinds": kinds,
                ":queue": params.queue,
                ":max": params.max,
            })
            .map_err(from_sqlite)?;
        job_rows(rows)?
    };
    claim_rows(conn, &mut jobs, params)?;
    Ok(jobs)
}

/// Claims `jobs`, rows just read in the writer's transaction (available, all of them), for
/// `params.worker_id`: draws their tokens, updates them in one statement by id, and updates the
/// rows as the database did. Shared by the plain and the fair claim.
pub(crate) fn claim_rows(
    conn: &Connection,
    jobs: &mut [JobRow],
    params: &JobFetchAvailableParams,
) -> Result<(), Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let tokens: Vec<u8> = conn
        .prepare_cached(sql::JOB_FETCH_AVAILABLE_TOKENS)
        .and_then(|mut s| s.query_row(named_params! { ":bytes": 16 * jobs.len() }, |r| r.get(0)))
        .map_err(from_sqlite)?;
    let ids: Vec<i64> = jobs.iter().map(|job| job.id).collect();
    let ids = serde_json::to_string(&ids).map_err(|e| decode("ids", e))?;
    let now = params.now.unwrap_or_else(time::now);
    let (now_text, expires) = (time::encode(now), time::add(now, params.lease));
    let claimed = conn
        .prepare_cached(sql::JOB_FETCH_AVAILABLE_CLAIM)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":ids": ids,
                ":tokens": tokens,
                ":now": now_text,
                ":worker_id": params.worker_id,
                ":lease_expires_at": expires,
            })
        })
        .map_err(from_sqlite)?;
    if claimed != jobs.len() {
        // Cannot happen inside the writer's transaction; never hand out a job not claimed.
        return Err(Error::new(
            backlog_storage::ErrorKind::Database,
            format!("claimed {claimed} of the {} jobs read", jobs.len()),
        ));
    }
    // As stored (microseconds, clamped), as a read of the rows would give them.
    let now = time::decode("attempted_at", &now_text)?;
    let expires = time::decode("lease_expires_at", &expires)?;
    for (job, token) in jobs.iter_mut().zip(tokens.chunks_exact(16)) {
        job.state = JobState::Running;
        job.attempt += 1;
        job.attempted_at = Some(now);
        job.attempted_by.push(params.worker_id.clone());
        job.lease_expires_at = Some(expires);
        job.lease_token =
            Some(backlog_types::LeaseToken::try_from(token).map_err(|e| decode("lease_token", e))?);
    }
    Ok(())
}
