//! [`assert_enqueued`] and [`assert_not_enqueued`]: what a piece of code enqueued.

use std::fmt;
use std::marker::PhantomData;

use backlog_storage::{JobListParams, Storage};
use backlog_types::{JobId, JobState};
use serde::Serialize;

use crate::{Error, JobArgs};

/// The states that count as enqueued: not finished yet.
const UNFINISHED: [JobState; 4] = [
    JobState::Available,
    JobState::Scheduled,
    JobState::Retryable,
    JobState::Running,
];

/// Which enqueued jobs of kind `A` to look for: optionally with given args (a JSON subset:
/// every field given must be stored with that value, other fields may be anything) and in a
/// given queue.
///
/// ```
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Invoice { customer: u64, total: u64 }
/// # impl backlog::JobArgs for Invoice { const KIND: &'static str = "invoice"; }
/// use backlog::testing::Expected;
///
/// let any_invoice = Expected::<Invoice>::new();
/// let for_customer_7 = Expected::<Invoice>::new()
///     .args(serde_json::json!({"customer": 7}))
///     .queue("billing");
/// ```
pub struct Expected<A> {
    args: Option<serde_json::Value>,
    queue: Option<String>,
    kind: PhantomData<fn() -> A>,
}

impl<A> fmt::Debug for Expected<A>
where
    A: JobArgs,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a `{}` job", A::KIND)?;
        if let Some(args) = &self.args {
            write!(f, " with args matching {args}")?;
        }
        if let Some(queue) = &self.queue {
            write!(f, " in queue `{queue}`")?;
        }
        Ok(())
    }
}

impl<A: JobArgs> Default for Expected<A> {
    fn default() -> Self {
        Expected {
            args: None,
            queue: None,
            kind: PhantomData,
        }
    }
}

impl<A: JobArgs> Expected<A> {
    /// Any unfinished job of kind `A`.
    pub fn new() -> Expected<A> {
        Expected::default()
    }

    /// Only jobs whose stored args contain these fields with these values (any JSON value;
    /// a non-object must equal the stored args). Pass `json!({...})` for a subset, or the
    /// whole args value.
    ///
    /// # Panics
    ///
    /// When `args` does not serialize to JSON.
    pub fn args(mut self, args: impl Serialize) -> Self {
        let value = match serde_json::to_value(args) {
            Ok(value) => value,
            Err(error) => panic!("Expected::args: the args do not serialize to JSON: {error}"),
        };
        self.args = Some(value);
        self
    }

    /// Only jobs in this queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    fn matches(&self, job: &EnqueuedJob) -> bool {
        self.queue.as_ref().is_none_or(|q| *q == job.queue)
            && self
                .args
                .as_ref()
                .is_none_or(|expected| contains(&job.args, expected))
    }
}

/// An unfinished job found by [`enqueued`] or its in-transaction variants.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnqueuedJob {
    /// The job.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its stored args.
    pub args: serde_json::Value,
    /// Its state (`available`, `scheduled`, `retryable` or `running`).
    pub state: JobState,
}

/// Whether `actual` contains `expected`: objects field by field (recursively), anything else
/// by equality.
fn contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (actual, expected) {
        (serde_json::Value::Object(actual), serde_json::Value::Object(expected)) => expected
            .iter()
            .all(|(key, want)| actual.get(key).is_some_and(|have| contains(have, want))),
        _ => actual == expected,
    }
}

/// The unfinished jobs (`available`, `scheduled`, `retryable` or `running`) that match
/// `expected`, oldest first (at most 10,000 are looked at).
///
/// # Errors
///
/// When the storage fails.
pub async fn enqueued<A: JobArgs>(
    storage: &dyn Storage,
    expected: &Expected<A>,
) -> Result<Vec<EnqueuedJob>, Error> {
    let mut rows = storage
        .job_list(JobListParams {
            states: UNFINISHED.to_vec(),
            queue: expected.queue.clone(),
            kind: Some(A::KIND.to_owned()),
            limit: 10_000,
            ..JobListParams::default()
        })
        .await?;
    rows.reverse();
    Ok(rows
        .into_iter()
        .map(|row| EnqueuedJob {
            id: row.id,
            queue: row.queue,
            args: row.args,
            state: row.state,
        })
        .filter(|job| expected.matches(job))
        .collect())
}

/// Panics unless at least one unfinished job matches `expected`; returns the matches.
///
/// # Panics
///
/// When nothing matches (the message lists the unfinished jobs of that kind), or the storage
/// fails.
pub async fn assert_enqueued<A: JobArgs>(
    storage: &dyn Storage,
    expected: Expected<A>,
) -> Vec<EnqueuedJob> {
    let all = match enqueued(storage, &Expected::<A>::new()).await {
        Ok(all) => all,
        Err(error) => panic!("assert_enqueued: reading the jobs failed: {error}"),
    };
    check_enqueued(&expected, all)
}

/// Panics if any unfinished job matches `expected`.
///
/// # Panics
///
/// When something matches (the message lists the matches), or the storage fails.
pub async fn assert_not_enqueued<A: JobArgs>(storage: &dyn Storage, expected: Expected<A>) {
    let all = match enqueued(storage, &Expected::<A>::new()).await {
        Ok(all) => all,
        Err(error) => panic!("assert_not_enqueued: reading the jobs failed: {error}"),
    };
    check_not_enqueued(&expected, all)
}

pub(super) fn check_enqueued<A: JobArgs>(
    expected: &Expected<A>,
    all: Vec<EnqueuedJob>,
) -> Vec<EnqueuedJob> {
    let found: Vec<EnqueuedJob> = all
        .iter()
        .filter(|j| expected.matches(j))
        .cloned()
        .collect();
    if found.is_empty() {
        panic!(
            "expected {expected:?} to be enqueued, but none matches; unfinished `{}` jobs: {}",
            A::KIND,
            describe(&all)
        );
    }
    found
}

pub(super) fn check_not_enqueued<A: JobArgs>(expected: &Expected<A>, all: Vec<EnqueuedJob>) {
    let found: Vec<EnqueuedJob> = all.into_iter().filter(|j| expected.matches(j)).collect();
    if !found.is_empty() {
        panic!(
            "expected no {expected:?} to be enqueued, found: {}",
            describe(&found)
        );
    }
}

fn describe(jobs: &[EnqueuedJob]) -> String {
    if jobs.is_empty() {
        return "none".to_owned();
    }
    jobs.iter()
        .map(|j| {
            format!(
                "#{} in `{}` ({}) args {}",
                j.id,
                j.queue,
                j.state.as_str(),
                j.args
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn parse_state(state: &str) -> Result<JobState, Error> {
    JobState::ALL
        .into_iter()
        .find(|s| s.as_str() == state)
        .ok_or_else(|| {
            Error::Storage(backlog_storage::Error::new(
                backlog_storage::ErrorKind::Database,
                format!("unknown job state `{state}` in the database"),
            ))
        })
}

/// Reading inside a SQLite transaction.
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite {
    use super::*;

    const SQL: &str = include_str!("../../sql/enqueued_tx.sqlite.sql");

    /// Like [`enqueued`](super::enqueued), read on your own connection, so jobs enqueued with
    /// [`SqliteClient::enqueue_tx`](crate::SqliteClient::enqueue_tx) in a transaction that has
    /// not committed yet are seen (pass the transaction: it derefs to the connection).
    ///
    /// # Errors
    ///
    /// When the query fails (Backlog's tables must be in that database).
    pub fn enqueued_sqlite_tx<A: JobArgs>(
        conn: &rusqlite::Connection,
        expected: &Expected<A>,
    ) -> Result<Vec<EnqueuedJob>, Error> {
        let mut stmt = conn.prepare_cached(SQL).map_err(db)?;
        let rows = stmt
            .query_map([A::KIND], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(db)?;
        let mut jobs = Vec::new();
        for row in rows {
            let (id, queue, args, state) = row.map_err(db)?;
            let args = serde_json::from_str(&args).map_err(|e| {
                Error::Storage(
                    backlog_storage::Error::new(
                        backlog_storage::ErrorKind::Database,
                        "stored args are not JSON",
                    )
                    .with_source(e),
                )
            })?;
            let job = EnqueuedJob {
                id,
                queue,
                args,
                state: parse_state(&state)?,
            };
            if expected.matches(&job) {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    /// [`assert_enqueued`](super::assert_enqueued) inside a SQLite transaction (see
    /// [`enqueued_sqlite_tx`]).
    ///
    /// # Panics
    ///
    /// When nothing matches, or the query fails.
    pub fn assert_enqueued_sqlite_tx<A: JobArgs>(
        conn: &rusqlite::Connection,
        expected: Expected<A>,
    ) -> Vec<EnqueuedJob> {
        match enqueued_sqlite_tx(conn, &Expected::<A>::new()) {
            Ok(all) => check_enqueued(&expected, all),
            Err(error) => panic!("assert_enqueued_sqlite_tx: reading the jobs failed: {error}"),
        }
    }

    fn db(error: rusqlite::Error) -> Error {
        Error::Storage(
            backlog_storage::Error::new(
                backlog_storage::ErrorKind::Database,
                "reading enqueued jobs in the caller's transaction failed",
            )
            .with_source(error),
        )
    }
}

/// Reading inside a PostgreSQL transaction.
#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    use super::*;

    const SQL: &str = include_str!("../../sql/enqueued_tx.postgres.sql");

    /// Like [`enqueued`](super::enqueued), read on your own connection or transaction, so
    /// jobs enqueued with [`PgClient::enqueue_tx`](crate::PgClient::enqueue_tx) in a
    /// transaction that has not committed yet are seen. `pg` names Backlog's schema.
    ///
    /// # Errors
    ///
    /// When the query fails.
    pub async fn enqueued_pg_tx<A: JobArgs, C>(
        tx: &C,
        pg: &backlog_postgres::PgStorage,
        expected: &Expected<A>,
    ) -> Result<Vec<EnqueuedJob>, Error>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        // The schema name was validated when the storage was created (lowercase letters,
        // digits and underscores), so it can be spliced in.
        let sql = SQL.replace("{schema}", pg.schema());
        let rows = tx.query(&sql, &[&A::KIND]).await.map_err(|e| {
            Error::Storage(
                backlog_storage::Error::new(
                    backlog_storage::ErrorKind::Database,
                    "reading enqueued jobs in the caller's transaction failed",
                )
                .with_source(e),
            )
        })?;
        let mut jobs = Vec::new();
        for row in rows {
            let state: String = row.get(3);
            let job = EnqueuedJob {
                id: row.get(0),
                queue: row.get(1),
                args: row.get(2),
                state: parse_state(&state)?,
            };
            if expected.matches(&job) {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    /// [`assert_enqueued`](super::assert_enqueued) inside a PostgreSQL transaction (see
    /// [`enqueued_pg_tx`]).
    ///
    /// # Panics
    ///
    /// When nothing matches, or the query fails.
    pub async fn assert_enqueued_pg_tx<A: JobArgs, C>(
        tx: &C,
        pg: &backlog_postgres::PgStorage,
        expected: Expected<A>,
    ) -> Vec<EnqueuedJob>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        match enqueued_pg_tx(tx, pg, &Expected::<A>::new()).await {
            Ok(all) => check_enqueued(&expected, all),
            Err(error) => panic!("assert_enqueued_pg_tx: reading the jobs failed: {error}"),
        }
    }
}
