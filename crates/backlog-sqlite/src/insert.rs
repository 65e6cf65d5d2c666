//! `job_insert_many`: encoding jobs for SQLite (off the writer thread) and inserting them with
//! their unique keys and idempotency keys. Also used by the transactional insert (`tx.rs`),
//! batches, workflows, cron ticks and batch callbacks.

use backlog_storage::{Error, JobInsert, JobInsertResult, OnConflict};
use backlog_types::{JobId, JobState};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::from_sqlite;
use crate::idempotency::{self, EncodedKey};
use crate::{sql, time, SqliteStorage};

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

/// Jobs of one chunk of a pipelined insert ([`SqliteStorage::insert_pipelined`]).
const PIPELINE_CHUNK: usize = 256;

/// Jobs of the first chunk: the writer waits for it with nothing else to do, so it is small.
const PIPELINE_FIRST_CHUNK: usize = 64;

/// Calls of at least this many jobs are pipelined: encoding one chunk while the writer inserts
/// the one before.
pub(crate) const PIPELINE_JOBS: usize = 2 * PIPELINE_CHUNK;

impl SqliteStorage {
    /// Inserts `jobs` in one transaction of the writer while they are still being encoded:
    /// the request goes to the writer first, then the jobs follow through a channel in chunks
    /// of [`PIPELINE_CHUNK`], so that encoding (a third of a bulk insert's time with one
    /// producer) overlaps the writer's inserts instead of preceding them. The chunks are sent
    /// without an `.await` in between, so the writer thread waits at most for one chunk's
    /// encoding. If the sending side goes away before the last chunk (a panic), the request
    /// fails and its savepoint is rolled back: all or nothing, as for any insert. Returns the
    /// ids in input order and the encoded chunks (to be freed by the caller).
    pub(crate) async fn insert_pipelined(
        &self,
        jobs: Vec<JobInsert>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<JobInsertResult>, Vec<InsertBatch>), Error> {
        let (chunks, receiver) = std::sync::mpsc::channel::<Option<InsertBatch>>();
        let reply = self
            .inner
            .writer
            .send(
                move |tx| {
                    let mut sent = Vec::new();
                    let mut batches = Vec::new();
                    loop {
                        match receiver.recv() {
                            Ok(Some(batch)) => {
                                sent.extend(job_insert_many(tx, &batch)?);
                                batches.push(batch);
                            }
                            Ok(None) => return Ok((sent, batches)),
                            Err(_) => return Err(abandoned()),
                        }
                    }
                },
                true,
            )
            .await?;
        let mut jobs = jobs.into_iter();
        let mut size = PIPELINE_FIRST_CHUNK;
        loop {
            let chunk: Vec<JobInsert> = jobs.by_ref().take(size).collect();
            size = PIPELINE_CHUNK;
            if chunk.is_empty() {
                break;
            }
            // A send fails only if the writer gave up on the request; its reply says why.
            if chunks.send(Some(InsertBatch::new(chunk, now))).is_err() {
                break;
            }
        }
        let _ = chunks.send(None);
        reply.await
    }
}

/// Frees encoded batches on a task of their own, so that the caller of an insert does not
/// spend its time freeing (about a tenth of a bulk insert of 1,000 jobs) before it gets its
/// answer: spawned from the caller's task, the freeing runs when that task next waits, which
/// for a producer of batches is while the writer inserts its next one. Outside a Tokio
/// runtime, and for small batches (a task costs more than freeing a few jobs), the batches
/// are freed at once.
pub(crate) fn free_later(batches: Vec<InsertBatch>) {
    let jobs: usize = batches.iter().map(|b| b.jobs.len()).sum();
    if jobs < PIPELINE_JOBS {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { drop(batches) });
    }
}

/// The error of a pipelined insert whose jobs stopped coming before the last chunk.
fn abandoned() -> Error {
    Error::new(
        backlog_storage::ErrorKind::Database,
        "the enqueue stopped sending its jobs before the last one; none of them was inserted",
    )
}

/// Inserts a batch, returning the ids in input order. The batch holds each unique key at most
/// once ([`backlog_storage::DedupedBatch`]); a key already held by a live job is reported as a
/// duplicate (and the job moved, for [`OnConflict::Replace`]).
///
/// Runs of jobs with neither a unique key nor an idempotency key go in multi-row statements
/// ([`insert_rows`]); a keyed job is looked up first, then inserted alone.
pub(crate) fn job_insert_many(
    conn: &Connection,
    batch: &InsertBatch,
) -> Result<Vec<JobInsertResult>, Error> {
    let mut results = Vec::with_capacity(batch.jobs.len());
    let mut run: Vec<&EncodedJob> = Vec::new();
    for job in &batch.jobs {
        if job.idempotency.is_none() && job.unique_key.is_none() {
            run.push(job);
            continue;
        }
        insert_rows(conn, &batch.now, &run, &mut results)?;
        run.clear();
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
        insert_rows(conn, &batch.now, &[job], &mut results)?;
        if let Some(key) = &job.idempotency {
            let id = results.last().expect("insert_rows pushed the job's id").id;
            idempotency::store(conn, key, id)?;
        }
    }
    insert_rows(conn, &batch.now, &run, &mut results)?;
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

/// Inserts `jobs` in statements of up to [`sql::JOB_INSERT_MANY_ROWS`] rows, each the largest
/// power of two that fits what is left, and pushes their ids in order. The rows of one
/// statement get consecutive ids ending at `last_insert_rowid()` (see
/// `sql/job_insert_many.sql`).
fn insert_rows(
    conn: &Connection,
    now: &str,
    jobs: &[&EncodedJob],
    results: &mut Vec<JobInsertResult>,
) -> Result<(), Error> {
    let mut rest = jobs;
    while !rest.is_empty() {
        let rows = (1 << rest.len().ilog2()).min(sql::JOB_INSERT_MANY_ROWS);
        let (chunk, tail) = rest.split_at(rows);
        let mut statement = conn
            .prepare_cached(sql::job_insert_many(rows))
            .map_err(from_sqlite)?;
        let mut index = 0;
        for job in chunk {
            // In the column order of sql/job_insert_many.sql.
            let values: [&dyn rusqlite::ToSql; 17] = [
                &job.state,
                &job.queue,
                &job.kind,
                &job.args,
                &job.priority,
                &job.max_attempts,
                &job.scheduled_at,
                &now,
                &job.tags,
                &job.metadata,
                &job.unique_key,
                &job.unique_states,
                &job.fingerprint,
                &job.timeout_ms,
                &job.backoff,
                &job.expires_at,
                &job.partition_key,
            ];
            for value in values {
                index += 1;
                statement
                    .raw_bind_parameter(index, value)
                    .map_err(from_sqlite)?;
            }
        }
        statement.raw_execute().map_err(from_sqlite)?;
        let last = conn.last_insert_rowid();
        let first = last + 1 - rows as i64;
        results.extend((first..=last).map(|id| JobInsertResult {
            id,
            duplicate: false,
        }));
        rest = tail;
    }
    Ok(())
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
