//! Reading jobs: one by id (`job_get`, `job_archive_get` for archived ones), a filtered list
//! (`job_list`) and counts per queue and state (`job_count_by_state`, and
//! `job_count_unfinished` through the partial indexes).

use backlog_storage::{Error, JobListParams, StateCount};
use backlog_types::{JobId, JobRow};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::{decode, from_sqlite};
use crate::row::{job_row, job_rows};
use crate::sql;

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
    state_counts(conn, sql::JOB_COUNT_BY_STATE)
}

/// Job counts per queue for the unfinished states, through the partial indexes.
pub(crate) fn job_count_unfinished(conn: &Connection) -> Result<Vec<StateCount>, Error> {
    state_counts(conn, sql::JOB_COUNT_UNFINISHED)
}

/// Runs `sql`, whose rows are `queue`, `state`, `count`.
fn state_counts(conn: &Connection, sql: &str) -> Result<Vec<StateCount>, Error> {
    let mut statement = conn.prepare_cached(sql).map_err(from_sqlite)?;
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
