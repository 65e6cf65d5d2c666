//! Each storage method's SQL, executed synchronously on a connection (the writer's transaction,
//! a pooled reader, or the caller's own transaction for [`crate::SqliteStorage::job_insert_many_tx`]).
//! `storage.rs` only decides which connection runs them and sends the wake-ups.

use std::collections::BTreeMap;
use std::time::Duration;

use backlog_storage::{
    Error, JobDeleteFinalizedParams, JobFetchAvailableParams, JobFinish, JobHeartbeatResult,
    JobInsert, JobInsertResult, JobListParams, OnConflict, QueueCount, StateCount,
};
use backlog_types::{JobId, JobRow, JobState, LeaseToken};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::{decode, from_sqlite};
use crate::idempotency::{self, EncodedKey};
use crate::row::{job_row, job_rows};
use crate::{sql, time};

/// One job's column values, encoded as SQLite will store them.
struct EncodedJob {
    state: &'static str,
    queue: String,
    kind: String,
    args: String,
    priority: i16,
    max_attempts: i32,
    scheduled_at: String,
    tags: String,
    metadata: String,
    unique_key: Option<Vec<u8>>,
    unique_states: Option<i16>,
    replace: bool,
    fingerprint: Option<String>,
    idempotency: Option<EncodedKey>,
    timeout_ms: Option<i64>,
    backoff: Option<String>,
    expires_at: Option<String>,
    partition_key: Option<String>,
}

/// A batch of jobs encoded for [`job_insert_many`]. Built by the caller, so that JSON encoding
/// happens off the single writer thread.
pub(crate) struct InsertBatch {
    jobs: Vec<EncodedJob>,
    now: String,
    /// Queues that get available jobs (to wake their workers after the commit).
    pub(crate) available: Vec<String>,
}

impl InsertBatch {
    /// Whether every job carries an idempotency key.
    pub(crate) fn all_keyed(&self) -> bool {
        self.jobs.iter().all(|j| j.idempotency.is_some())
    }

    pub(crate) fn new(jobs: Vec<JobInsert>, now: DateTime<Utc>) -> InsertBatch {
        let now_text = time::encode(now);
        let mut available: Vec<String> = Vec::new();
        let jobs = jobs
            .into_iter()
            .map(|job| {
                // The writer's clock is the database's: every process writing the file runs on
                // this host.
                let at = job.scheduled_at.or_else(|| {
                    job.run_after
                        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
                        .map(|d| {
                            now.checked_add_signed(d)
                                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                        })
                });
                let (state, scheduled_at) = match at {
                    Some(at) if at > now => (JobState::Scheduled, time::encode(at)),
                    Some(at) => (JobState::Available, time::encode(at)),
                    None => (JobState::Available, now_text.clone()),
                };
                if state == JobState::Available && !available.contains(&job.queue) {
                    available.push(job.queue.clone());
                }
                let timeout_ms = job.timeout_ms();
                let tags = if job.tags.is_empty() {
                    "[]".to_owned()
                } else {
                    serde_json::Value::from(job.tags).to_string()
                };
                let replace = job
                    .unique
                    .as_ref()
                    .is_some_and(|u| u.on_conflict == OnConflict::Replace);
                EncodedJob {
                    timeout_ms,
                    backoff: job.backoff.as_ref().map(|b| b.to_string()),
                    expires_at: job.expires_at.map(time::encode),
                    partition_key: job.partition_key,
                    idempotency: job.idempotency.map(|i| EncodedKey::new(i, now)),
                    unique_states: job.unique.as_ref().map(|u| u.states),
                    unique_key: job.unique.map(|u| u.key),
                    replace,
                    fingerprint: job.fingerprint,
                    state: state.as_str(),
                    queue: job.queue,
                    kind: job.kind,
                    args: job.args.to_string(),
                    priority: job.priority,
                    max_attempts: job.max_attempts,
                    scheduled_at,
                    tags,
                    metadata: job.metadata.to_string(),
                }
            })
            .collect();
        InsertBatch {
            jobs,
            now: now_text,
            available,
        }
    }
}

/// Inserts a batch, returning the ids in input order. The batch holds each unique key at most
/// once ([`backlog_storage::DedupedBatch`]); a key already held by a live job is reported as a
/// duplicate (and the job moved, for [`OnConflict::Replace`]).
pub(crate) fn job_insert_many(
    conn: &Connection,
    batch: &InsertBatch,
) -> Result<Vec<JobInsertResult>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_INSERT_MANY)
        .map_err(from_sqlite)?;
    let mut results = Vec::with_capacity(batch.jobs.len());
    for job in &batch.jobs {
        if let Some(key) = &job.idempotency {
            if let Some(existing) = idempotency::find(conn, key)? {
                results.push(JobInsertResult {
                    id: existing,
                    duplicate: true,
                });
                continue;
            }
        }
        if let Some(key) = &job.unique_key {
            if let Some(existing) = find_unique(conn, key, job)? {
                results.push(JobInsertResult {
                    id: existing,
                    duplicate: true,
                });
                continue;
            }
        }
        statement
            .execute(rusqlite::params![
                job.state,
                job.queue,
                job.kind,
                job.args,
                job.priority,
                job.max_attempts,
                job.scheduled_at,
                batch.now,
                job.tags,
                job.metadata,
                job.unique_key,
                job.unique_states,
                job.fingerprint,
                job.timeout_ms,
                job.backoff,
                job.expires_at,
                job.partition_key,
            ])
            .map_err(from_sqlite)?;
        let id = conn.last_insert_rowid();
        if let Some(key) = &job.idempotency {
            idempotency::store(conn, key, id)?;
        }
        results.push(JobInsertResult {
            id,
            duplicate: false,
        });
    }
    let mut fair: Vec<&str> = Vec::new();
    for job in &batch.jobs {
        if job.partition_key.is_some() && !fair.contains(&job.queue.as_str()) {
            fair.push(&job.queue);
        }
    }
    if !fair.is_empty() {
        let mut statement = conn
            .prepare_cached(sql::QUEUE_MARK_FAIR)
            .map_err(from_sqlite)?;
        for queue in fair {
            statement
                .execute(named_params! { ":queue": queue, ":now": batch.now })
                .map_err(from_sqlite)?;
        }
    }
    Ok(results)
}

/// The live job holding `key`, after moving it to `job`'s args and run time if `job` asks to
/// replace and it has not started.
fn find_unique(conn: &Connection, key: &[u8], job: &EncodedJob) -> Result<Option<JobId>, Error> {
    let existing: Option<JobId> = conn
        .prepare_cached(sql::JOB_INSERT_MANY_FIND_UNIQUE)
        .and_then(|mut s| {
            s.query_row(named_params! { ":key": key }, |row| row.get(0))
                .optional()
        })
        .map_err(from_sqlite)?;
    if let (Some(id), true) = (existing, job.replace) {
        conn.prepare_cached(sql::JOB_INSERT_MANY_REPLACE)
            .and_then(|mut s| {
                s.execute(named_params! {
                    ":id": id,
                    ":args": job.args,
                    ":scheduled_at": job.scheduled_at,
                    ":state": job.state,
                })
            })
            .map_err(from_sqlite)?;
    }
    Ok(existing)
}

/// Claims up to `params.max` available jobs, sorted in run order.
pub(crate) fn job_fetch_available(
    conn: &Connection,
    params: &JobFetchAvailableParams,
) -> Result<Vec<JobRow>, Error> {
    let now = params.now.unwrap_or_else(time::now);
    let mut statement = conn
        .prepare_cached(sql::JOB_FETCH_AVAILABLE)
        .map_err(from_sqlite)?;
    let kinds = if params.kinds.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&params.kinds).map_err(|e| crate::error::decode("kinds", e))?)
    };
    let rows = statement
        .query(named_params! {
            ":kinds": kinds,
            ":now": time::encode(now),
            ":worker_id": params.worker_id,
            ":lease_expires_at": time::add(now, params.lease),
            ":queue": params.queue,
            ":max": params.max,
        })
        .map_err(from_sqlite)?;
    let mut jobs = job_rows(rows)?;
    // RETURNING gives no order guarantee.
    jobs.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.scheduled_at.cmp(&b.scheduled_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(jobs)
}

/// Records each outcome if the job still runs under that lease token; returns the ids applied,
/// by this call or before by the same execution (a retried write), ascending, and the queues
/// where settling workflow dependants made jobs available.
pub(crate) fn job_finish_many(
    conn: &Connection,
    jobs: &[JobFinish],
    now: DateTime<Utc>,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let now_text = time::encode(now);
    let mut statement = conn
        .prepare_cached(sql::JOB_FINISH_MANY)
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
        let settle: Option<bool> = statement
            .query_row(
                named_params! {
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
                    ":result": job.result.as_ref().map(|r| r.to_string()),
                },
                |row| row.get(0),
            )
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

/// Makes due jobs available; returns counts per queue, sorted by queue.
pub(crate) fn job_schedule(
    conn: &Connection,
    now: DateTime<Utc>,
    max: u32,
) -> Result<Vec<QueueCount>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_SCHEDULE)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":now": time::encode(now), ":max": max })
        .map_err(from_sqlite)?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        *counts.entry(row.get(0).map_err(from_sqlite)?).or_default() += 1;
    }
    Ok(counts
        .into_iter()
        .map(|(queue, count)| QueueCount { queue, count })
        .collect())
}

/// The earliest `scheduled_at` of waiting jobs.
pub(crate) fn job_next_scheduled_at(conn: &Connection) -> Result<Option<DateTime<Utc>>, Error> {
    let text: Option<String> = conn
        .prepare_cached(sql::JOB_NEXT_SCHEDULED_AT)
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)?;
    text.map(|t| time::decode("scheduled_at", &t)).transpose()
}

/// Rescues running jobs whose lease expired; returns their ids in ascending order.
pub(crate) fn job_rescue(
    conn: &Connection,
    now: DateTime<Utc>,
    max: u32,
    poison: i32,
) -> Result<(Vec<JobId>, Vec<JobId>), Error> {
    let mut statement = conn.prepare_cached(sql::JOB_RESCUE).map_err(from_sqlite)?;
    let rows = statement
        .query_map(
            named_params! { ":now": time::encode(now), ":max": max, ":poison": poison },
            |row| Ok((row.get::<_, JobId>(0)?, row.get::<_, bool>(1)?)),
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(from_sqlite)?;
    let mut ids: Vec<JobId> = rows.iter().map(|(id, _)| *id).collect();
    let discarded = rows.iter().filter(|(_, f)| *f).map(|(id, _)| *id).collect();
    ids.sort_unstable();
    Ok((ids, discarded))
}

/// One job by id.
pub(crate) fn job_get(conn: &Connection, id: JobId) -> Result<Option<JobRow>, Error> {
    let mut statement = conn.prepare_cached(sql::JOB_GET).map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":id": id })
        .map_err(from_sqlite)?;
    rows.next().map_err(from_sqlite)?.map(job_row).transpose()
}

/// Jobs matching the filter, newest first.
pub(crate) fn job_list(conn: &Connection, params: &JobListParams) -> Result<Vec<JobRow>, Error> {
    let states = (!params.states.is_empty()).then(|| {
        serde_json::Value::from(params.states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .to_string()
    });
    let mut statement = conn.prepare_cached(sql::JOB_LIST).map_err(from_sqlite)?;
    let rows = statement
        .query(named_params! {
            ":states": states,
            ":queue": params.queue,
            ":kind": params.kind,
            ":before_id": params.before_id,
            ":limit": params.limit,
            ":fingerprint": params.fingerprint,
        })
        .map_err(from_sqlite)?;
    job_rows(rows)
}

/// Job counts per queue and state.
pub(crate) fn job_count_by_state(conn: &Connection) -> Result<Vec<StateCount>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_COUNT_BY_STATE)
        .map_err(from_sqlite)?;
    let mut rows = statement.query([]).map_err(from_sqlite)?;
    let mut counts = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let state: String = row.get(1).map_err(from_sqlite)?;
        let count: i64 = row.get(2).map_err(from_sqlite)?;
        counts.push(StateCount {
            queue: row.get(0).map_err(from_sqlite)?,
            state: state.parse().map_err(|e| decode("state", e))?,
            count: count.unsigned_abs(),
        });
    }
    Ok(counts)
}

/// Deletes finalized jobs past their cutoff; returns how many.
pub(crate) fn job_delete_finalized(
    conn: &Connection,
    params: &JobDeleteFinalizedParams,
) -> Result<u64, Error> {
    let ids: Vec<JobId> = conn
        .prepare_cached(sql::JOB_DELETE_FINALIZED)
        .and_then(|mut s| {
            s.query_map(
                named_params! {
                    ":completed_before": params.completed_before.map(time::encode),
                    ":cancelled_before": params.cancelled_before.map(time::encode),
                    ":discarded_before": params.discarded_before.map(time::encode),
                    ":max": params.max,
                },
                |row| row.get(0),
            )?
            .collect()
        })
        .map_err(from_sqlite)?;
    let now = time::encode(time::now());
    let mut archive = conn
        .prepare_cached(sql::JOB_ARCHIVE_ONE)
        .map_err(from_sqlite)?;
    let mut delete = conn
        .prepare_cached(sql::JOB_DELETE_ONE)
        .map_err(from_sqlite)?;
    for id in &ids {
        if params.archive {
            archive
                .execute(named_params! { ":id": id, ":now": now })
                .map_err(from_sqlite)?;
        }
        delete
            .execute(named_params! { ":id": id })
            .map_err(from_sqlite)?;
    }
    Ok(ids.len() as u64)
}

/// One archived job, decoded from its JSON copy.
pub(crate) fn job_archive_get(conn: &Connection, id: JobId) -> Result<Option<JobRow>, Error> {
    let text: Option<String> = conn
        .prepare_cached(sql::JOB_ARCHIVE_GET)
        .and_then(|mut s| {
            s.query_row(named_params! { ":id": id }, |row| row.get(0))
                .optional()
        })
        .map_err(from_sqlite)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode("backlog_job_archive.job", e)))
        .transpose()
}

/// Deletes the finalized jobs among `ids`; returns those deleted, ascending.
pub(crate) fn job_purge_many(conn: &Connection, ids: &[JobId]) -> Result<Vec<JobId>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_PURGE_MANY)
        .map_err(from_sqlite)?;
    let mut deleted = Vec::new();
    for id in ids {
        if statement
            .execute(named_params! { ":id": id })
            .map_err(from_sqlite)?
            > 0
        {
            deleted.push(*id);
        }
    }
    deleted.sort_unstable();
    Ok(deleted)
}
