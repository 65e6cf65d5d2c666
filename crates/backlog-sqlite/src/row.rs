//! Decoding a `backlog_job` row (`SELECT *` or `RETURNING *`) into a [`JobRow`].

use backlog_storage::Error;
use backlog_types::{JobRow, JobState, LeaseToken};
use chrono::{DateTime, Utc};
use rusqlite::{Row, Rows, Statement};
use serde::de::DeserializeOwned;

use crate::error::{decode, from_sqlite};
use crate::time;

/// Collects every row of `rows` as jobs.
pub(crate) fn job_rows(rows: Rows<'_>) -> Result<Vec<JobRow>, Error> {
    raw_job_rows(rows)?
        .into_iter()
        .map(RawJob::decode)
        .collect()
}

/// Collects every row of `rows` as [`RawJob`]s, to be decoded later (off the writer thread).
pub(crate) fn raw_job_rows(mut rows: Rows<'_>) -> Result<Vec<RawJob>, Error> {
    let Some(statement) = rows.as_ref() else {
        return Ok(Vec::new());
    };
    let columns = Columns::of(statement)?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        jobs.push(RawJob::read(row, &columns)?);
    }
    Ok(jobs)
}

/// One job from a row holding every column of `backlog_job`.
pub(crate) fn job_row(row: &Row<'_>) -> Result<JobRow, Error> {
    RawJob::read(row, &Columns::of(row.as_ref())?)?.decode()
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

/// A job row's values as SQLite holds them: JSON and timestamps still text, the state a string.
/// A claim copies its rows out on the writer thread, the one thread every write of the file
/// waits for, and leaves the parsing ([`RawJob::decode`], about a quarter of a claim's time
/// there) to the thread that asked for them.
pub(crate) struct RawJob {
    id: i64,
    state: String,
    queue: String,
    kind: String,
    args: String,
    priority: i16,
    attempt: i32,
    max_attempts: i32,
    scheduled_at: String,
    created_at: String,
    attempted_at: Option<String>,
    finalized_at: Option<String>,
    lease_expires_at: Option<String>,
    attempted_by: String,
    errors: String,
    attempt_durations_us: String,
    tags: String,
    metadata: String,
    rescue_count: i32,
    cancel_requested_at: Option<String>,
    fingerprint: Option<String>,
    result: Option<String>,
    progress: Option<String>,
    lease_token: Option<Vec<u8>>,
    timeout_ms: Option<i64>,
    backoff: Option<String>,
    expires_at: Option<String>,
    partition_key: Option<String>,
}

impl RawJob {
    fn read(row: &Row<'_>, c: &Columns) -> Result<RawJob, Error> {
        Ok(RawJob {
            id: at(row, c.id)?,
            state: at(row, c.state)?,
            queue: at(row, c.queue)?,
            kind: at(row, c.kind)?,
            args: at(row, c.args)?,
            priority: at(row, c.priority)?,
            attempt: at(row, c.attempt)?,
            max_attempts: at(row, c.max_attempts)?,
            scheduled_at: at(row, c.scheduled_at)?,
            created_at: at(row, c.created_at)?,
            attempted_at: at(row, c.attempted_at)?,
            finalized_at: at(row, c.finalized_at)?,
            lease_expires_at: at(row, c.lease_expires_at)?,
            attempted_by: at(row, c.attempted_by)?,
            errors: at(row, c.errors)?,
            attempt_durations_us: at(row, c.attempt_durations_us)?,
            tags: at(row, c.tags)?,
            metadata: at(row, c.metadata)?,
            rescue_count: at(row, c.rescue_count)?,
            cancel_requested_at: at(row, c.cancel_requested_at)?,
            fingerprint: at(row, c.fingerprint)?,
            result: at(row, c.result)?,
            progress: at(row, c.progress)?,
            lease_token: at(row, c.lease_token)?,
            timeout_ms: at(row, c.timeout_ms)?,
            backoff: at(row, c.backoff)?,
            expires_at: at(row, c.expires_at)?,
            partition_key: at(row, c.partition_key)?,
        })
    }

    /// The job's id.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    /// The claim's run order: priority (highest first), then scheduled_at, then id. Timestamps
    /// are stored so that comparing the text compares the times.
    pub(crate) fn run_order(&self, other: &RawJob) -> std::cmp::Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then_with(|| self.scheduled_at.cmp(&other.scheduled_at))
            .then(self.id.cmp(&other.id))
    }

    /// Parses the JSON, timestamps and state.
    pub(crate) fn decode(self) -> Result<JobRow, Error> {
        Ok(JobRow {
            id: self.id,
            state: self
                .state
                .parse::<JobState>()
                .map_err(|e| decode("state", e))?,
            queue: self.queue,
            kind: self.kind,
            args: parse("args", &self.args)?,
            priority: self.priority,
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            scheduled_at: time::decode("scheduled_at", &self.scheduled_at)?,
            created_at: time::decode("created_at", &self.created_at)?,
            attempted_at: optional_time("attempted_at", self.attempted_at)?,
            finalized_at: optional_time("finalized_at", self.finalized_at)?,
            lease_expires_at: optional_time("lease_expires_at", self.lease_expires_at)?,
            attempted_by: parse("attempted_by", &self.attempted_by)?,
            errors: parse("errors", &self.errors)?,
            attempt_durations_us: parse("attempt_durations_us", &self.attempt_durations_us)?,
            tags: parse("tags", &self.tags)?,
            metadata: parse("metadata", &self.metadata)?,
            rescue_count: self.rescue_count,
            cancel_requested_at: optional_time("cancel_requested_at", self.cancel_requested_at)?,
            fingerprint: self.fingerprint,
            result: optional_parse("result", self.result)?,
            progress: optional_parse("progress", self.progress)?,
            lease_token: self
                .lease_token
                .map(|b| LeaseToken::try_from(b.as_slice()).map_err(|e| decode("lease_token", e)))
                .transpose()?,
            timeout_ms: self.timeout_ms,
            backoff: optional_parse("backoff", self.backoff)?,
            expires_at: optional_time("expires_at", self.expires_at)?,
            partition_key: self.partition_key,
        })
    }
}

fn parse<T: DeserializeOwned>(name: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| decode(name, e))
}

fn optional_parse<T: DeserializeOwned>(
    name: &str,
    text: Option<String>,
) -> Result<Option<T>, Error> {
    text.map(|t| parse(name, &t)).transpose()
}

fn optional_time(name: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
    text.map(|t| time::decode(name, &t)).transpose()
}

fn at<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, Error> {
    row.get(index).map_err(from_sqlite)
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
