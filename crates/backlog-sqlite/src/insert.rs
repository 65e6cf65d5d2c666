//! `job_insert_many`: encoding jobs for SQLite (off the writer thread) and inserting them with
//! their unique keys and idempotency keys. Also used by the transactional insert (`tx.rs`),
//! batches, workflows, cron ticks and batch callbacks.

use backlog_storage::{ArgsJson, Error, JobInsert, JobInsertResult, OnConflict};
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
    args: ArgsJson,
    priority: i16,
    max_attempts: i32,
    scheduled_at: String,
    /// The tags as a JSON array; `None`: none (`[]`).
    tags: Option<String>,
    /// The metadata as a JSON object; `None`: empty (`{}`).
    metadata: Option<String>,
    unique_key: Option<Vec<u8>>,
    unique_states: Option<i16>,
    replace: bool,
    fingerprint: Option<String>,
    idempotency: Option<EncodedKey>,
    timeout_ms: Option<i64>,
    backoff: Option<String>,
    expires_at: Option<String>,
    partition_key: Option<String>,
    /// [`JobInsert::is_plain`]: inserted by `sql/job_insert_many_plain.sql`, which stores the
    /// same row as `sql/job_insert_many.sql` with 7 values bound instead of 17.
    plain: bool,
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
                let plain = job.is_plain();
                let tags =
                    (!job.tags.is_empty()).then(|| serde_json::Value::from(job.tags).to_string());
                let metadata = match &job.metadata {
                    serde_json::Value::Object(map) if map.is_empty() => None,
                    other => Some(other.to_string()),
                };
                let replace = job
                    .unique
                    .as_ref()
                    .is_some_and(|u| u.on_conflict == OnConflict::Replace);
                EncodedJob {
                    plain,
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
                    args: job.args,
                    priority: job.priority,
                    max_attempts: job.max_attempts,
                    scheduled_at,
                    tags,
                    metadata,
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
        let notifier = self.notifier().clone();
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
                            Ok(None) => {
                                // Before the commit (see `Notifier::inserted`).
                                notifier.inserted(&sent);
                                return Ok((sent, batches));
                            }
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

/// Inserts `jobs` in input order, each run of [plain](JobInsert::is_plain) jobs and each run of
/// others through [`insert_run`], and pushes their ids in order.
fn insert_rows(
    conn: &Connection,
    now: &str,
    jobs: &[&EncodedJob],
    results: &mut Vec<JobInsertResult>,
) -> Result<(), Error> {
    let mut rest = jobs;
    while let Some(first) = rest.first() {
        let plain = first.plain;
        let run = rest.iter().take_while(|job| job.plain == plain).count();
        let (same, tail) = rest.split_at(run);
        insert_run(conn, now, same, plain, results)?;
        rest = tail;
    }
    Ok(())
}

/// Inserts `jobs`, all plain or all not (`plain`), in statements of up to
/// [`sql::JOB_INSERT_MANY_ROWS`] rows, each the largest power of two that fits what is left,
/// and pushes their ids in order. The rows of one statement get consecutive ids ending at
/// `last_insert_rowid()` (see `sql/job_insert_many.sql`).
fn insert_run(
    conn: &Connection,
    now: &str,
    jobs: &[&EncodedJob],
    plain: bool,
    results: &mut Vec<JobInsertResult>,
) -> Result<(), Error> {
    let mut rest = jobs;
    while !rest.is_empty() {
        let rows = (1 << rest.len().ilog2()).min(sql::JOB_INSERT_MANY_ROWS);
        let (chunk, tail) = rest.split_at(rows);
        let text = match plain {
            true => sql::job_insert_many_plain(rows),
            false => sql::job_insert_many(rows),
        };
        let mut statement = conn.prepare_cached(text).map_err(from_sqlite)?;
        let mut bind = |index: usize, value: &dyn rusqlite::ToSql| {
            statement
                .raw_bind_parameter(index, value)
                .map_err(from_sqlite)
        };
        let mut index = 0;
        if plain {
            // ?1, the creation time of every row.
            index += 1;
            bind(index, &now)?;
        }
        for job in chunk {
            let args = job.args.as_str();
            let tags = job.tags.as_deref().unwrap_or("[]");
            let metadata = job.metadata.as_deref().unwrap_or("{}");
            // In the column order of sql/job_insert_many.sql, or of
            // sql/job_insert_many_plain.sql after its ?1.
            let all: [&dyn rusqlite::ToSql; 17] = [
                &job.state,
                &job.queue,
                &job.kind,
                &args,
                &job.priority,
                &job.max_attempts,
                &job.scheduled_at,
                &now,
                &tags,
                &metadata,
                &job.unique_key,
                &job.unique_states,
                &job.fingerprint,
                &job.timeout_ms,
                &job.backoff,
                &job.expires_at,
                &job.partition_key,
            ];
            let values = match plain {
                true => &all[..7],
                false => &all[..],
            };
            for value in values {
                index += 1;
                bind(index, *value)?;
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
                    ":args": job.args.as_str(),
                    ":scheduled_at": job.scheduled_at,
                    ":state": job.state,
                })
            })
            .map_err(from_sqlite)?;
    }
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use backlog_storage::Storage;
    use serde_json::json;

    use super::*;
    use crate::testing::test_storage;

    /// Plain jobs: some now, one later (scheduled), one with a priority and attempts of its own.
    fn plain_jobs() -> Vec<JobInsert> {
        let mut jobs = vec![JobInsert::new("q", "k", json!({"n": 1})); 3];
        jobs[1].priority = 3;
        jobs[1].max_attempts = 2;
        jobs[2].run_after = Some(Duration::from_secs(60));
        jobs
    }

    #[tokio::test]
    async fn plain_rows_are_the_rows_of_the_full_statement() {
        let storage = test_storage().await.unwrap();
        let batch = InsertBatch::new(plain_jobs(), Utc::now());
        assert!(batch.jobs.iter().all(|job| job.plain));
        let (plain, full) = storage
            .write(move |tx| {
                let jobs: Vec<&EncodedJob> = batch.jobs.iter().collect();
                let (mut plain, mut full) = (Vec::new(), Vec::new());
                insert_run(tx, &batch.now, &jobs, true, &mut plain)?;
                insert_run(tx, &batch.now, &jobs, false, &mut full)?;
                Ok((plain, full))
            })
            .await
            .unwrap();
        assert_eq!(plain.len(), 3);
        for (plain, full) in plain.iter().zip(&full) {
            let plain = storage.job_get(plain.id).await.unwrap().unwrap();
            let mut full = storage.job_get(full.id).await.unwrap().unwrap();
            assert_ne!(plain.id, full.id);
            full.id = plain.id;
            assert_eq!(plain, full, "a plain row differs from the full statement's");
        }
    }

    #[tokio::test]
    async fn runs_of_plain_and_other_jobs_keep_their_order_and_values() {
        let storage = test_storage().await.unwrap();
        let plain = JobInsert::new("q", "k", json!({}));
        let mut tagged = plain.clone();
        tagged.tags = vec!["t".into()];
        let mut described = plain.clone();
        described.metadata = json!({"m": true});
        let mut timed = plain.clone();
        timed.timeout = Some(Duration::from_millis(1500));
        // Runs of 1, 2 and 3 plain jobs between the others.
        let jobs = vec![
            plain.clone(),
            tagged,
            plain.clone(),
            plain.clone(),
            described,
            timed,
            plain.clone(),
            plain.clone(),
            plain,
        ];
        let batch = InsertBatch::new(jobs, Utc::now());
        let plainness: Vec<bool> = batch.jobs.iter().map(|job| job.plain).collect();
        assert_eq!(
            plainness,
            [true, false, true, true, false, false, true, true, true]
        );
        let ids = storage
            .write(move |tx| job_insert_many(tx, &batch))
            .await
            .unwrap();
        let ids: Vec<JobId> = ids.iter().map(|r| r.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let mut rows = Vec::new();
        for id in &ids {
            rows.push(storage.job_get(*id).await.unwrap().unwrap());
        }
        assert_eq!(rows[1].tags, ["t"]);
        assert_eq!(rows[4].metadata, json!({"m": true}));
        assert_eq!(rows[5].timeout_ms, Some(1500));
        for (row, plain) in rows.iter().zip(plainness) {
            if plain {
                assert!(row.tags.is_empty());
                assert_eq!(row.metadata, json!({}));
                assert_eq!(row.timeout_ms, None);
            }
        }
    }
}
