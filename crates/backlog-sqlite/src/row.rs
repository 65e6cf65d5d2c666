//! Decoding a `backlog_job` row (`SELECT *` or `RETURNING *`) into a [`JobRow`].

use backlog_storage::Error;
use backlog_types::{JobRow, JobState, LeaseToken};
use chrono::{DateTime, Utc};
use rusqlite::{Row, Rows, Statement};
use serde::de::DeserializeOwned;

use crate::error::{decode, from_sqlite};
use crate::time;

/// Collects every row of `rows` as jobs.
pub(crate) fn job_rows(mut rows: Rows<'_>) -> Result<Vec<JobRow>, Error> {
    let Some(statement) = rows.as_ref() else {
        return Ok(Vec::new());
    };
    let columns = Columns::of(statement)?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        jobs.push(decode_job(row, &columns)?);
    }
    Ok(jobs)
}

/// One job from a row holding every column of `backlog_job`.
pub(crate) fn job_row(row: &Row<'_>) -> Result<JobRow, Error> {
    decode_job(row, &Columns::of(row.as_ref())?)
}

/// Where each column of `backlog_job` sits in a statement's result, looked up once per
/// statement. Reading a value by name compares the name with every column's (a `strlen` and a
/// `memcmp` each): done for each of the 28 values of every row, that was about a tenth of the
/// CPU of a SQLite drain (`perf`, docs/benchmarks.md).
struct Columns {
    id: usize,
    state: usize,
    queue: usize,
    kind: usize,
    args: usize,
    priority: usize,
    attempt: usize,
    max_attempts: usize,
    scheduled_at: usize,
    created_at: usize,
    attempted_at: usize,
    finalized_at: usize,
    lease_expires_at: usize,
    attempted_by: usize,
    errors: usize,
    attempt_durations_us: usize,
    tags: usize,
    metadata: usize,
    rescue_count: usize,
    cancel_requested_at: usize,
    fingerprint: usize,
    result: usize,
    progress: usize,
    lease_token: usize,
    timeout_ms: usize,
    backoff: usize,
    expires_at: usize,
    partition_key: usize,
}

impl Columns {
    fn of(statement: &Statement<'_>) -> Result<Columns, Error> {
        let at = |name: &str| statement.column_index(name).map_err(from_sqlite);
        Ok(Columns {
            id: at("id")?,
            state: at("state")?,
            queue: at("queue")?,
            kind: at("kind")?,
            args: at("args")?,
            priority: at("priority")?,
            attempt: at("attempt")?,
            max_attempts: at("max_attempts")?,
            scheduled_at: at("scheduled_at")?,
            created_at: at("created_at")?,
            attempted_at: at("attempted_at")?,
            finalized_at: at("finalized_at")?,
            lease_expires_at: at("lease_expires_at")?,
            attempted_by: at("attempted_by")?,
            errors: at("errors")?,
            attempt_durations_us: at("attempt_durations_us")?,
            tags: at("tags")?,
            metadata: at("metadata")?,
            rescue_count: at("rescue_count")?,
            cancel_requested_at: at("cancel_requested_at")?,
            fingerprint: at("fingerprint")?,
            result: at("result")?,
            progress: at("progress")?,
            lease_token: at("lease_token")?,
            timeout_ms: at("timeout_ms")?,
            backoff: at("backoff")?,
            expires_at: at("expires_at")?,
            partition_key: at("partition_key")?,
        })
    }
}

fn decode_job(row: &Row<'_>, c: &Columns) -> Result<JobRow, Error> {
    let state: String = at(row, c.state)?;
    Ok(JobRow {
        id: at(row, c.id)?,
        state: state.parse::<JobState>().map_err(|e| decode("state", e))?,
        queue: at(row, c.queue)?,
        kind: at(row, c.kind)?,
        args: json_at(row, c.args, "args")?,
        priority: at(row, c.priority)?,
        attempt: at(row, c.attempt)?,
        max_attempts: at(row, c.max_attempts)?,
        scheduled_at: timestamp_at(row, c.scheduled_at, "scheduled_at")?,
        created_at: timestamp_at(row, c.created_at, "created_at")?,
        attempted_at: optional_timestamp_at(row, c.attempted_at, "attempted_at")?,
        finalized_at: optional_timestamp_at(row, c.finalized_at, "finalized_at")?,
        lease_expires_at: optional_timestamp_at(row, c.lease_expires_at, "lease_expires_at")?,
        attempted_by: json_at(row, c.attempted_by, "attempted_by")?,
        errors: json_at(row, c.errors, "errors")?,
        attempt_durations_us: json_at(row, c.attempt_durations_us, "attempt_durations_us")?,
        tags: json_at(row, c.tags, "tags")?,
        metadata: json_at(row, c.metadata, "metadata")?,
        rescue_count: at(row, c.rescue_count)?,
        cancel_requested_at: optional_timestamp_at(
            row,
            c.cancel_requested_at,
            "cancel_requested_at",
        )?,
        fingerprint: at(row, c.fingerprint)?,
        result: optional_json_at(row, c.result, "result")?,
        progress: optional_json_at(row, c.progress, "progress")?,
        lease_token: lease_token(row, c.lease_token)?,
        timeout_ms: at(row, c.timeout_ms)?,
        backoff: optional_json_at(row, c.backoff, "backoff")?,
        expires_at: optional_timestamp_at(row, c.expires_at, "expires_at")?,
        partition_key: at(row, c.partition_key)?,
    })
}

fn lease_token(row: &Row<'_>, index: usize) -> Result<Option<LeaseToken>, Error> {
    let bytes: Option<Vec<u8>> = at(row, index)?;
    bytes
        .map(|b| LeaseToken::try_from(b.as_slice()).map_err(|e| decode("lease_token", e)))
        .transpose()
}

fn at<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, Error> {
    row.get(index).map_err(from_sqlite)
}

fn json_at<T: DeserializeOwned>(row: &Row<'_>, index: usize, name: &str) -> Result<T, Error> {
    let text: String = at(row, index)?;
    serde_json::from_str(&text).map_err(|e| decode(name, e))
}

fn optional_json_at<T: DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
    name: &str,
) -> Result<Option<T>, Error> {
    let text: Option<String> = at(row, index)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode(name, e)))
        .transpose()
}

fn timestamp_at(row: &Row<'_>, index: usize, name: &str) -> Result<DateTime<Utc>, Error> {
    let text: String = at(row, index)?;
    time::decode(name, &text)
}

fn optional_timestamp_at(
    row: &Row<'_>,
    index: usize,
    name: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    let text: Option<String> = at(row, index)?;
    text.map(|t| time::decode(name, &t)).transpose()
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
