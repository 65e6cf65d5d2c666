//! Cancelling jobs and the other operator writes: cancelling one job, cancelling, retrying,
//! deleting or rescheduling jobs by filter and purging finalized jobs by id, each run in the
//! writer's transaction (so reading the rows and changing them cannot interleave with another
//! write); and the read-only poll of cancellation requests (`job_cancel_requested`).

use backlog_storage::{
    Error, JobCancelManyResult, JobCancelParams, JobCancelResult, JobFilter, JobRescheduleParams,
};
use backlog_types::{JobId, JobState};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection};

use crate::error::from_sqlite;
use crate::{inspect, sql, time};

/// Cancels or requests cancellation of one job, after checking its kind.
pub(crate) fn job_cancel(
    conn: &Connection,
    params: &JobCancelParams,
    now: DateTime<Utc>,
) -> Result<JobCancelResult, Error> {
    let Some(job) = inspect::job_get(conn, params.id)? else {
        return Ok(JobCancelResult::NotFound);
    };
    let kind_matches = params.kind.as_deref().is_none_or(|kind| kind == job.kind);
    let change = kind_matches
        && match job.state {
            JobState::Available | JobState::Scheduled | JobState::Retryable => true,
            JobState::Running => params.request_running,
            JobState::Completed | JobState::Cancelled | JobState::Discarded => false,
        };
    if change {
        conn.prepare_cached(sql::JOB_CANCEL)
            .and_then(|mut s| {
                s.execute(named_params! { ":id": params.id, ":now": time::encode(now) })
            })
            .map_err(from_sqlite)?;
    }
    Ok(JobCancelResult::classify(
        job,
        change,
        params.kind.as_deref(),
    ))
}

/// Cancels the waiting jobs matching `filter` among `states` and requests cancellation of the
/// running ones.
pub(crate) fn job_cancel_by_filter(
    conn: &Connection,
    filter: &JobFilter,
    states: &[JobState],
    now: DateTime<Utc>,
) -> Result<JobCancelManyResult, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_CANCEL_BY_FILTER)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":ids": ids_json(&filter.ids),
            ":queue": filter.queue,
            ":kind": filter.kind,
            ":states": states_json(states),
            ":now": time::encode(now),
        })
        .map_err(from_sqlite)?;
    let mut result = JobCancelManyResult::default();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let id: JobId = row.get(0).map_err(from_sqlite)?;
        let state: String = row.get(1).map_err(from_sqlite)?;
        if state == JobState::Running.as_str() {
            result.cancel_requested.push(id);
        } else {
            result.cancelled.push(id);
        }
    }
    result.cancelled.sort_unstable();
    result.cancel_requested.sort_unstable();
    Ok(result)
}

/// Retries the jobs matching `filter` among `states`; returns the ids (ascending) and the
/// queues to wake.
pub(crate) fn job_retry_by_filter(
    conn: &Connection,
    filter: &JobFilter,
    states: &[JobState],
    now: DateTime<Utc>,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_RETRY_BY_FILTER)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":ids": ids_json(&filter.ids),
            ":queue": filter.queue,
            ":kind": filter.kind,
            ":states": states_json(states),
            ":now": time::encode(now),
        })
        .map_err(from_sqlite)?;
    let mut ids = Vec::new();
    let mut queues: Vec<String> = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        ids.push(row.get(0).map_err(from_sqlite)?);
        let queue: String = row.get(1).map_err(from_sqlite)?;
        if !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    ids.sort_unstable();
    Ok((ids, queues))
}

fn ids_json(ids: &[JobId]) -> Option<String> {
    (!ids.is_empty()).then(|| serde_json::Value::from(ids.to_vec()).to_string())
}

fn states_json(states: &[JobState]) -> String {
    serde_json::Value::from(states.iter().map(|s| s.as_str()).collect::<Vec<_>>()).to_string()
}

/// [`Storage::job_delete_by_filter`](backlog_storage::Storage::job_delete_by_filter).
pub(crate) fn job_delete_by_filter(
    conn: &Connection,
    filter: &JobFilter,
    states: &[JobState],
) -> Result<Vec<JobId>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_DELETE_BY_FILTER)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":ids": ids_json(&filter.ids),
            ":queue": filter.queue,
            ":kind": filter.kind,
            ":states": states_json(states),
        })
        .map_err(from_sqlite)?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        ids.push(row.get(0).map_err(from_sqlite)?);
    }
    ids.sort_unstable();
    Ok(ids)
}

/// [`Storage::job_reschedule_by_filter`](backlog_storage::Storage::job_reschedule_by_filter):
/// the ids changed, and the queues that got available jobs.
pub(crate) fn job_reschedule_by_filter(
    conn: &Connection,
    params: &JobRescheduleParams,
    states: &[JobState],
    now: DateTime<Utc>,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let filter = &params.filter;
    let mut statement = conn
        .prepare_cached(sql::JOB_RESCHEDULE_BY_FILTER)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":ids": ids_json(&filter.ids),
            ":queue": filter.queue,
            ":kind": filter.kind,
            ":states": states_json(states),
            ":run_at": params.run_at.map(time::encode),
            ":priority": params.priority,
            ":new_queue": params.queue,
            ":now": time::encode(now),
        })
        .map_err(from_sqlite)?;
    let mut ids = Vec::new();
    let mut queues: Vec<String> = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        ids.push(row.get(0).map_err(from_sqlite)?);
        let queue: String = row.get(1).map_err(from_sqlite)?;
        let state: String = row.get(2).map_err(from_sqlite)?;
        if state == "available" && !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    ids.sort_unstable();
    Ok((ids, queues))
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

/// Of `ids` (a JSON array), the jobs still `running` whose cancellation was requested.
pub(crate) fn job_cancel_requested(conn: &Connection, ids: &str) -> Result<Vec<JobId>, Error> {
    conn.prepare_cached(sql::JOB_CANCEL_REQUESTED)
        .and_then(|mut s| {
            s.query_map(named_params! { ":ids": ids }, |row| row.get(0))?
                .collect()
        })
        .map_err(from_sqlite)
}
