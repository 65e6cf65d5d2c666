//! The pooled insert of a big batch of plain jobs by binary `COPY` (issue #9).
//!
//! `job_insert_many.sql` reads its rows from `UNNEST` over 19 arrays and writes them through an
//! `INSERT … ON CONFLICT` with `RETURNING`, joined back to the input to answer in order; for
//! jobs with neither a unique key nor an idempotency key nothing of that is needed but the ids.
//! So a batch of at least [`MIN_JOBS`] such jobs goes through `COPY` instead, in one
//! transaction and two round trips:
//!
//! 1. `BEGIN`, `job_insert_many_ids.sql` and the start of `job_insert_many_copy.sql`,
//!    pipelined. The ids statement draws one id per job from the job sequence, and reads
//!    `now()`, the transaction's timestamp, which is also what `now()` reads in every later
//!    statement of the transaction (the column default `created_at` included). Each job's
//!    `scheduled_at` and state are decided from it here exactly as the SQL decides them:
//!    `coalesce(scheduled_at, now() + run_after, now())`, `scheduled` if after `now()`.
//! 2. The rows in the binary `COPY` format (ids ascending in input order, so a batch runs in
//!    order, as with the statement; jsonb goes as its binary form, which is the JSON text
//!    behind a version byte, so the server parses it either way; when every job is
//!    [plain](JobInsert::is_plain), only the first [`PLAIN_COLUMNS`] columns, by
//!    `job_insert_many_copy_plain.sql`, the others taking their defaults), streamed in chunks of
//!    [`CHUNK`] bytes; then, pipelined behind them, `job_insert_many_fair.sql` if some job has
//!    a partition key (its queues become fair) and `COMMIT`, durable like every enqueue's.
//!
//! On PostgreSQL 16 and older both `COPY` statements end in `job_insert_copy_row_by_row.sql`,
//! a `WHERE` clause every row passes, which makes the server insert row by row: faster there
//! than its multi-insert buffer (see the file). The server's version is read once per storage.
//! Either way the `COPY` must report every row written, or the call fails.
//!
//! Workers are woken after the commit for the queues that received an available job, as the
//! statement path does (`src/wakeup.rs`). On any error, or if the call is dropped half-way,
//! the connection is closed rather than returned to the pool (PostgreSQL then rolls the
//! transaction back), so no pooled connection is ever left inside the transaction or the
//! `COPY`.
//!
//! `tests/insert_copy.rs` checks this path against the statement: the same rows stored, ids in
//! input order, fair queues, wake-ups, and nothing stored when a row fails half-way.

use std::collections::HashSet;
use std::sync::LazyLock;

use backlog_storage::{Error, ErrorKind, JobInsert, JobInsertResult};
use backlog_types::JobId;
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use tokio_postgres::types::{IsNull, Json, ToSql, Type};

use crate::storage::micros;
use crate::{error, PgStorage};

/// The smallest batch sent by `COPY`; smaller ones keep the statement (one round trip and
/// three statements instead of two and four). `COPY` was measured faster at 100 jobs
/// (docs/benchmarks.md) and was not measured below.
pub(crate) const MIN_JOBS: usize = 100;

const BEGIN: &str = include_str!("../sql/transaction_begin.sql");
const IDS: &str = include_str!("../sql/job_insert_many_ids.sql");
const COPY: &str = include_str!("../sql/job_insert_many_copy.sql");
const COPY_PLAIN: &str = include_str!("../sql/job_insert_many_copy_plain.sql");
const FAIR: &str = include_str!("../sql/job_insert_many_fair.sql");
const COMMIT: &str = include_str!("../sql/transaction_commit.sql");
const ROW_BY_ROW: &str = include_str!("../sql/job_insert_copy_row_by_row.sql");
const SERVER_VERSION: &str = include_str!("../sql/server_version_num.sql");

/// [`COPY`] and [`COPY_PLAIN`] with [`ROW_BY_ROW`] appended.
static COPY_ROWS: LazyLock<String> = LazyLock::new(|| format!("{COPY}{ROW_BY_ROW}"));
static COPY_PLAIN_ROWS: LazyLock<String> = LazyLock::new(|| format!("{COPY_PLAIN}{ROW_BY_ROW}"));

/// The `COPY` statement for a batch, and how many of [`COLUMNS`] each row sends: only the
/// first [`PLAIN_COLUMNS`] when every job is [plain](JobInsert::is_plain).
fn copy_statement(plain: bool, row_by_row: bool) -> (&'static str, usize) {
    let columns = if plain { PLAIN_COLUMNS } else { COLUMNS.len() };
    let sql = match (plain, row_by_row) {
        (true, false) => COPY_PLAIN,
        (true, true) => COPY_PLAIN_ROWS.as_str(),
        (false, false) => COPY,
        (false, true) => COPY_ROWS.as_str(),
    };
    (sql, columns)
}

/// Whether a server of `server_version_num` inserts faster row by row (see [`ROW_BY_ROW`]):
/// PostgreSQL 17 rewrote the resource owner whose bookkeeping makes the multi-insert buffer
/// slow before it (measured on 15 only; 16 has the same code).
fn row_by_row(server_version_num: i32) -> bool {
    server_version_num < 170_000
}

/// The types of the columns of `job_insert_many_copy.sql`, in order. The state, an enum, is
/// sent as its label: the binary form of an enum is its label's text.
const COLUMNS: [Type; 15] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::INT2,
    Type::INT4,
    Type::TIMESTAMPTZ,
    Type::TEXT_ARRAY,
    Type::JSONB,
    Type::TEXT,
    Type::INT8,
    Type::JSONB,
    Type::TIMESTAMPTZ,
    Type::TEXT,
];

/// The columns of `job_insert_many_copy_plain.sql`: the first ones of [`COLUMNS`], which is
/// all a [plain](JobInsert::is_plain) job sets.
const PLAIN_COLUMNS: usize = 8;

/// Whether `jobs` go through `COPY`: enough of them, and none with a unique key or an
/// idempotency key (those need `ON CONFLICT`, so they keep the statement).
pub(crate) fn eligible(jobs: &[JobInsert]) -> bool {
    jobs.len() >= MIN_JOBS
        && jobs
            .iter()
            .all(|job| job.unique.is_none() && job.idempotency.is_none())
}

/// When a job runs and whether it is available now, decided as `job_insert_many.sql` does
/// with `now` = the transaction's `now()`.
fn schedule(job: &JobInsert, now: DateTime<Utc>) -> Result<(DateTime<Utc>, bool), Error> {
    let at = match (job.scheduled_at, job.run_after) {
        (Some(at), _) => at,
        (None, Some(after)) => now
            .checked_add_signed(chrono::TimeDelta::microseconds(micros(after)))
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "timestamp out of range"))?,
        (None, None) => now,
    };
    Ok((at, at <= now))
}

/// Takes the pooled connection out of the pool when dropped before [`Guard::release`]: after
/// an error, or a call dropped half-way, the connection may be inside the transaction or
/// mid-`COPY`, and must not serve anyone else. Closing it makes PostgreSQL roll back.
struct Guard(Option<deadpool_postgres::Object>);

impl Guard {
    fn client(&self) -> &deadpool_postgres::Object {
        self.0.as_ref().expect("held until released")
    }

    /// The transaction committed: back to the pool.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

impl PgStorage {
    /// Inserts `jobs` (all [`eligible`]) by `COPY` in one durable transaction, wakes the workers
    /// of the queues that received available jobs, and returns the ids in input order.
    pub(crate) async fn job_insert_copy(
        &self,
        jobs: &[JobInsert],
    ) -> Result<Vec<JobInsertResult>, Error> {
        let guard = Guard(Some(self.client().await?));
        let row_by_row = self.copy_row_by_row(guard.client()).await?;
        // On an error the guard closes the connection: the transaction dies with it.
        let (ids, queues) = copy(guard.client(), jobs, row_by_row).await?;
        guard.release();
        self.wake(queues);
        Ok(ids
            .into_iter()
            .map(|id| JobInsertResult {
                id,
                duplicate: false,
            })
            .collect())
    }

    /// Whether this storage's `COPY` goes row by row ([`row_by_row`]), asked of the server on
    /// the first call.
    async fn copy_row_by_row(&self, client: &deadpool_postgres::Object) -> Result<bool, Error> {
        self.inner
            .copy_row_by_row
            .get_or_try_init(|| async {
                let row = client
                    .query_one(SERVER_VERSION, &[])
                    .await
                    .map_err(error::pg)?;
                let version: i32 = row.try_get(0).map_err(error::decode)?;
                Ok(row_by_row(version))
            })
            .await
            .copied()
    }
}

/// The binary `COPY` format's signature, flags and header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Rows are handed to the connection in chunks of about this many bytes: a batch of 1,000 jobs
/// is one chunk; a bigger one streams while the server already inserts the first rows.
const CHUNK: usize = 256 * 1024;

/// Appends one row of `values` (typed as the first of [`COLUMNS`]) in the binary `COPY`
/// format.
fn encode_row(buf: &mut BytesMut, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
    buf.put_i16(values.len() as i16);
    for (value, ty) in values.iter().zip(&COLUMNS) {
        let at = buf.len();
        buf.put_i32(0);
        let written = value.to_sql_checked(ty, buf).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("could not encode a job for COPY: {e}"),
            )
        })?;
        let len = match written {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(buf.len() - at - 4)
                .map_err(|_| Error::new(ErrorKind::InvalidInput, "a job's column is over 2 GB"))?,
        };
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// The transaction of [`PgStorage::job_insert_copy`] up to its commit, in two round trips:
/// `BEGIN`, the ids and the start of the `COPY` pipelined; then the rows, the fair marking and
/// `COMMIT`. Returns the ids in input order and the queues to wake.
async fn copy(
    client: &deadpool_postgres::Object,
    jobs: &[JobInsert],
    row_by_row: bool,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let keyed = jobs.iter().any(|job| job.partition_key.is_some());
    let (statement, columns) = copy_statement(jobs.iter().all(JobInsert::is_plain), row_by_row);
    let (begin, ids, copy, commit, mark) = tokio::try_join!(
        client.prepare_cached(BEGIN),
        client.prepare_cached(IDS),
        client.prepare_cached(statement),
        client.prepare_cached(COMMIT),
        async {
            match keyed {
                true => client.prepare_cached(FAIR).await.map(Some),
                false => Ok(None),
            }
        },
    )
    .map_err(error::pg)?;
    let count = i32::try_from(jobs.len())
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "too many jobs in one insert"))?;
    let count_param: [&(dyn ToSql + Sync); 1] = [&count];
    let (begun, drawn, sink) = tokio::join!(
        client.query(&begin, &[]),
        client.query(&ids, &count_param),
        client.copy_in::<_, Bytes>(&copy),
    );
    begun.map_err(error::pg)?;
    let drawn = drawn.map_err(error::pg)?;
    let sink = sink.map_err(error::pg)?;
    let row = drawn
        .first()
        .ok_or_else(|| Error::new(ErrorKind::Decode, "no ids drawn"))?;
    let mut ids: Vec<JobId> = row.try_get("ids").map_err(error::decode)?;
    let now: DateTime<Utc> = row.try_get("now").map_err(error::decode)?;
    if ids.len() != jobs.len() {
        return Err(Error::new(
            ErrorKind::Decode,
            "drew the wrong number of ids",
        ));
    }
    ids.sort_unstable();

    // The queues that received an available job, and those receiving keyed jobs, each once.
    let mut available: HashSet<&str> = HashSet::new();
    let mut fair: HashSet<&str> = HashSet::new();
    let mut sink = std::pin::pin!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK.min(jobs.len() * 128) + 64);
    buf.put_slice(HEADER);
    for (job, id) in jobs.iter().zip(&ids) {
        let (scheduled_at, now_available) = schedule(job, now)?;
        let state = if now_available {
            available.insert(&job.queue);
            "available"
        } else {
            "scheduled"
        };
        if job.partition_key.is_some() {
            fair.insert(&job.queue);
        }
        let timeout_ms = job.timeout_ms();
        let args = Json(job.args.raw());
        let values: [&(dyn ToSql + Sync); COLUMNS.len()] = [
            id,
            &state,
            &job.queue,
            &job.kind,
            &args,
            &job.priority,
            &job.max_attempts,
            &scheduled_at,
            &job.tags,
            &job.metadata,
            &job.fingerprint,
            &timeout_ms,
            &job.backoff,
            &job.expires_at,
            &job.partition_key,
        ];
        encode_row(&mut buf, &values[..columns])?;
        if buf.len() >= CHUNK {
            sink.send(buf.split().freeze()).await.map_err(error::pg)?;
        }
    }
    buf.put_i16(-1);
    sink.send(buf.split().freeze()).await.map_err(error::pg)?;

    // Pipelined behind the rows: if the COPY failed, the commit rolls back (and reports no
    // error), so the COPY's answer decides.
    let fair: Vec<&str> = fair.into_iter().collect();
    let fair_param: [&(dyn ToSql + Sync); 1] = [&fair];
    // Prepared up front: a statement prepared here would reach the server after the commit.
    let mark = async {
        match &mark {
            Some(mark) => client.query(mark, &fair_param).await.map(drop),
            None => Ok(()),
        }
    };
    let (copied, marked, committed) =
        tokio::join!(sink.as_mut().finish(), mark, client.query(&commit, &[]));
    let copied = copied.map_err(error::pg)?;
    marked.map_err(error::pg)?;
    committed.map_err(error::pg)?;
    if copied != jobs.len() as u64 {
        // Committed already (the commit is pipelined): say so loudly rather than return ids
        // of rows that are not there. The WHERE clause of ROW_BY_ROW passes every row, so this
        // is a server that broke its own contract.
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "COPY wrote and committed {copied} of {} jobs; the rest were not enqueued,                  and calling again would enqueue the committed ones twice",
                jobs.len()
            ),
        ));
    }
    Ok((ids, available.into_iter().map(str::to_owned).collect()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use backlog_storage::{IdempotencyInsert, OnConflict, UniqueInsert};
    use chrono::TimeZone;

    use super::*;

    fn job() -> JobInsert {
        JobInsert::new("q", "k", serde_json::json!({}))
    }

    #[test]
    fn copies_row_by_row_before_postgresql_17() {
        assert!(row_by_row(150_004));
        assert!(row_by_row(160_009));
        assert!(!row_by_row(170_000));
        assert!(!row_by_row(180_001));
        // The clause follows the statement on a line of its own, after the comments.
        for plain in [true, false] {
            let (sql, columns) = copy_statement(plain, true);
            assert_eq!(columns, if plain { PLAIN_COLUMNS } else { COLUMNS.len() });
            let code: Vec<&str> = sql
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect();
            assert_eq!(code.last(), Some(&"WHERE random() >= 0"), "{sql}");
            assert!(code[code.len() - 2].ends_with("FROM STDIN (FORMAT binary)"));
        }
    }

    #[test]
    fn only_big_batches_without_keys_go_by_copy() {
        assert!(!eligible(&vec![job(); MIN_JOBS - 1]));
        assert!(eligible(&vec![job(); MIN_JOBS]));
        let mut jobs = vec![job(); MIN_JOBS];
        jobs[7].partition_key = Some("p".into());
        assert!(eligible(&jobs), "partition keys go by COPY");
        jobs[9].unique = Some(UniqueInsert {
            key: vec![1],
            states: 1,
            on_conflict: OnConflict::Skip,
        });
        assert!(!eligible(&jobs));
        let mut jobs = vec![job(); MIN_JOBS];
        jobs[0].idempotency = Some(IdempotencyInsert {
            key: "i".into(),
            window: Duration::from_secs(1),
            now: None,
        });
        assert!(!eligible(&jobs));
    }

    #[test]
    fn schedules_as_the_statement_does() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        let second = chrono::TimeDelta::seconds(1);
        assert_eq!(schedule(&job(), now).unwrap(), (now, true), "due now");
        let mut later = job();
        later.run_after = Some(Duration::from_micros(1));
        let at = now + chrono::TimeDelta::microseconds(1);
        assert_eq!(schedule(&later, now).unwrap(), (at, false));
        later.run_after = Some(Duration::ZERO);
        assert_eq!(schedule(&later, now).unwrap(), (now, true));
        // An explicit time wins over a delay, in the past or the future.
        later.run_after = Some(Duration::from_secs(60));
        later.scheduled_at = Some(now - second);
        assert_eq!(schedule(&later, now).unwrap(), (now - second, true));
        later.scheduled_at = Some(now + second);
        assert_eq!(schedule(&later, now).unwrap(), (now + second, false));
        let mut far = job();
        far.run_after = Some(Duration::MAX);
        let err = schedule(&far, now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
