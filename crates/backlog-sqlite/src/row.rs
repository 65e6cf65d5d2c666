//! Decoding a `backlog_job` row (`SELECT *` or `RETURNING *`) into a [`JobRow`].

use backlog_storage::Error;
use backlog_types::{JobRow, JobState, LeaseToken};
use chrono::{DateTime, Utc};
use rusqlite::{Row, Rows};
use serde::de::DeserializeOwned;

use crate::error::{decode, from_sqlite};
use crate::time;

/// Collects every row of `rows` as jobs.
pub(crate) fn job_rows(mut rows: Rows<'_>) -> Result<Vec<JobRow>, Error> {
    let mut jobs = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        jobs.push(job_row(row)?);
    }
    Ok(jobs)
}

/// One job from a row holding every column of `backlog_job`.
pub(crate) fn job_row(row: &Row<'_>) -> Result<JobRow, Error> {
    let state: String = get(row, "state")?;
    Ok(JobRow {
        id: get(row, "id")?,
        state: state.parse::<JobState>().map_err(|e| decode("state", e))?,
        queue: get(row, "queue")?,
        kind: get(row, "kind")?,
        args: json(row, "args")?,
        priority: get(row, "priority")?,
        attempt: get(row, "attempt")?,
        max_attempts: get(row, "max_attempts")?,
        scheduled_at: timestamp(row, "scheduled_at")?,
        created_at: timestamp(row, "created_at")?,
        attempted_at: optional_timestamp(row, "attempted_at")?,
        finalized_at: optional_timestamp(row, "finalized_at")?,
        lease_expires_at: optional_timestamp(row, "lease_expires_at")?,
        attempted_by: json(row, "attempted_by")?,
        errors: json(row, "errors")?,
        attempt_durations_us: json(row, "attempt_durations_us")?,
        tags: json(row, "tags")?,
        metadata: json(row, "metadata")?,
        rescue_count: get(row, "rescue_count")?,
        cancel_requested_at: optional_timestamp(row, "cancel_requested_at")?,
        fingerprint: get(row, "fingerprint")?,
        result: optional_json(row, "result")?,
        progress: optional_json(row, "progress")?,
        lease_token: lease_token(row)?,
        timeout_ms: get(row, "timeout_ms")?,
        backoff: optional_json(row, "backoff")?,
        expires_at: optional_timestamp(row, "expires_at")?,
        partition_key: get(row, "partition_key")?,
    })
}

fn lease_token(row: &Row<'_>) -> Result<Option<LeaseToken>, Error> {
    let bytes: Option<Vec<u8>> = get(row, "lease_token")?;
    bytes
        .map(|b| LeaseToken::try_from(b.as_slice()).map_err(|e| decode("lease_token", e)))
        .transpose()
}

pub(crate) fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, column: &str) -> Result<T, Error> {
    row.get(column).map_err(from_sqlite)
}

pub(crate) fn json<T: DeserializeOwned>(row: &Row<'_>, column: &str) -> Result<T, Error> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| decode(column, e))
}

pub(crate) fn optional_json<T: DeserializeOwned>(
    row: &Row<'_>,
    column: &str,
) -> Result<Option<T>, Error> {
    let text: Option<String> = get(row, column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode(column, e)))
        .transpose()
}

pub(crate) fn timestamp(row: &Row<'_>, column: &str) -> Result<DateTime<Utc>, Error> {
    let text: String = get(row, column)?;
    time::decode(column, &text)
}

pub(crate) fn optional_timestamp(
    row: &Row<'_>,
    column: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    let text: Option<String> = get(row, column)?;
    text.map(|t| time::decode(column, &t)).transpose()
}
