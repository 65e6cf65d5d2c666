//! The writes of a running execution, each fenced by its lease token: recording outcomes
//! (`job_finish_many`, which settles workflow and batch jobs in the same transaction), renewing
//! leases (`job_heartbeat_many`) and recording progress (`job_progress_set`).

use std::time::Duration;

use backlog_storage::{Error, JobFinish, JobHeartbeatResult, JobProgressSetParams};
use backlog_types::{JobId, LeaseToken};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::from_sqlite;
use crate::{sql, time};

/// Records each outcome if the job still runs under that lease token; returns the ids applied,
/// by this call or before by the same execution (a retried write), ascending, and the queues
/// where settling workflow dependants made jobs available.
pub(crate) fn job_finish_many(
    conn: &Connection,
    jobs: &[JobFinish],
    now: DateTime<Utc>,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let now_text = time::encode(now);
    let mut plain = conn
        .prepare_cached(sql::JOB_FINISH_MANY_PLAIN)
        .map_err(from_sqlite)?;
    let mut statement = conn
        .prepare_cached(sql::JOB_FINISH_MANY_SETTLE)
        .map_err(from_sqlite)?;
    let mut applied = Vec::with_capacity(jobs.len());
    let mut finalized = Vec::new();
    for job in jobs {
        let outcome = &job.outcome;
        let state = outcome.state();
        let scheduled_at = outcome.delay().and_then(|delay| due_after(now, delay));
        let finalized_now = state.is_finalized();
        let failure = outcome.failure();
        let attempt_change = if outcome.gives_attempt_back() { -1 } else { 0 };
        let result = job.result.as_ref().map(|r| r.to_string());
        let params = named_params! {
            ":id": job.id,
            ":lease_token": job.lease_token.as_bytes().as_slice(),
            ":state": state.as_str(),
            ":attempt_change": attempt_change,
            ":scheduled_at": scheduled_at,
            ":finalized_at": finalized_now.then_some(&now_text),
            ":now": now_text,
            ":message": failure.map(|f| f.message.as_str()),
            ":panicked": if failure.is_some_and(|f| f.panicked) { "true" } else { "false" },
            ":error_kind": failure.and_then(|f| f.kind.as_deref()),
            ":backtrace": failure.and_then(|f| f.backtrace.as_deref()),
            ":duration_us": time::micros(job.duration),
            ":result": result,
        };
        // Most jobs belong to no workflow or batch: one statement, no RETURNING.
        if plain.execute(params).map_err(from_sqlite)? == 1 {
            applied.push(job.id);
            continue;
        }
        let settle: Option<bool> = statement
            .query_row(params, |row| row.get(0))
            .optional()
            .map_err(from_sqlite)?;
        match settle {
            Some(settle) => {
                applied.push(job.id);
                if settle {
                    finalized.push(job.id);
                }
            }
            None if already_applied(conn, job)? => applied.push(job.id),
            None => {}
        }
    }
    // Jobs of workflows and batches are settled in the same transaction as their outcome.
    let queues = if finalized.is_empty() {
        Vec::new()
    } else {
        crate::settle::settle(conn, finalized, now)?
    };
    applied.sort_unstable();
    Ok((applied, queues))
}

/// The new `scheduled_at` of a job retried or snoozed for `delay`: `None` (kept, so the job keeps
/// its place in the run order) for a zero delay.
fn due_after(now: DateTime<Utc>, delay: Duration) -> Option<String> {
    (!delay.is_zero()).then(|| time::add(now, delay))
}

/// Whether `job`'s execution already recorded its outcome (the job left `running` under its
/// token).
fn already_applied(conn: &Connection, job: &JobFinish) -> Result<bool, Error> {
    conn.prepare_cached(sql::JOB_FINISH_MANY_APPLIED)
        .and_then(|mut s| {
            s.query_row(
                named_params! { ":id": job.id, ":lease_token": job.lease_token.as_bytes().as_slice() },
                |row| row.get(0),
            )
        })
        .map_err(from_sqlite)
}

/// Renews leases; returns the ids no longer held under the given lease tokens, and the held
/// ones whose cancellation was requested.
pub(crate) fn job_heartbeat_many(
    conn: &Connection,
    jobs: &[(JobId, LeaseToken)],
    lease_expires_at: &str,
) -> Result<JobHeartbeatResult, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_HEARTBEAT_MANY)
        .map_err(from_sqlite)?;
    let mut result = JobHeartbeatResult::default();
    for (id, token) in jobs {
        let id = *id;
        let cancel_requested: Option<bool> = statement
            .query_row(
                named_params! {
                    ":id": id,
                    ":lease_token": token.as_bytes().as_slice(),
                    ":lease_expires_at": lease_expires_at,
                },
                |row| row.get(0),
            )
            .optional()
            .map_err(from_sqlite)?;
        match cancel_requested {
            None => result.lost.push(id),
            Some(true) => result.cancel_requested.push(id),
            Some(false) => {}
        }
    }
    Ok(result)
}

/// Records a running job's progress if it still runs under that lease token; `progress` is the
/// JSON text, encoded by the caller off the writer thread.
pub(crate) fn job_progress_set(
    conn: &Connection,
    params: &JobProgressSetParams,
    progress: &str,
) -> Result<bool, Error> {
    conn.prepare_cached(sql::JOB_PROGRESS_SET)
        .and_then(|mut s| {
            s.execute(named_params! {
                ":id": params.id,
                ":lease_token": params.lease_token.as_bytes().as_slice(),
                ":progress": progress,
            })
        })
        .map(|changed| changed > 0)
        .map_err(from_sqlite)
}
