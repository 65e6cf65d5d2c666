//! Group commit for single enqueues (issue #9): one-job pooled inserts made at the same time by
//! many callers of this process share statements and commits.
//!
//! Each pooled insert of one job used to be its own statement and its own durable commit, on
//! its own connection. With 16 producers that is 16 transactions waiting on the WAL flush,
//! about what PostgreSQL commits per second here without any statement at all (pgbench: ~5,200
//! commits/s at 16 clients). Now a plain one-job insert (no unique key, no idempotency key, no
//! partition key: the ones `job_insert_one.sql` takes) joins a queue; at most [`RUNNING`]
//! tasks drain it, each taking every job waiting (up to [`MAX_BATCH`]) into one insert and one
//! commit, and answering each caller once that commit is durable. An idle storage starts a task
//! at once, so a lone insert waits for no one; under load the jobs that arrive while a commit is
//! in flight go together in the next.
//!
//! Nothing changes for the caller: the call returns after its job's durable commit, with its
//! id, and wakes the workers as before. A statement that fails for one job's data (a value the
//! database refuses) is retried job by job, so the bad job fails alone; a database that went
//! away fails every job of the batch, each with the error. The tasks are spawned: a caller that
//! gives up waiting does not stop the insert of the others (nor its own, which may still
//! commit, as a dropped insert always could).

use std::sync::Mutex;

use backlog_storage::{Error, ErrorKind, JobInsert, JobInsertResult};
use tokio::sync::oneshot;

use crate::PgStorage;

/// Inserts in flight at once. More let commits overlap (PostgreSQL flushes concurrent commits
/// together); fewer make bigger batches. Measured with 16 producers (`backlog bench --scenario
/// single`, docs/benchmarks.md): 1 and 2 read alike, 4 about a tenth less, 8 about a third less.
const RUNNING: usize = 2;
/// Most jobs per statement.
const MAX_BATCH: usize = 1_000;

/// The jobs waiting for an insert, and how many tasks are inserting.
#[derive(Default)]
pub(crate) struct Gather {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Waiting>,
    running: usize,
}

struct Waiting {
    job: JobInsert,
    reply: oneshot::Sender<Result<JobInsertResult, Error>>,
}

/// Whether a one-job insert may join the queue: it takes the one-row statement's path.
pub(crate) fn gathers(job: &JobInsert) -> bool {
    job.unique.is_none() && job.idempotency.is_none() && job.partition_key.is_none()
}

impl PgStorage {
    /// Inserts `job` (one that [`gathers`]) with the others waiting, durably.
    pub(crate) async fn job_insert_gathered(
        &self,
        job: JobInsert,
    ) -> Result<JobInsertResult, Error> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = lock(&self.inner.gather);
            state.waiting.push(Waiting { job, reply });
            let start = state.running < RUNNING;
            if start {
                state.running += 1;
            }
            start
        };
        if start {
            let storage = self.clone();
            tokio::spawn(async move { storage.drain_gathered().await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::OutcomeUnknown,
                "the task inserting this job stopped before answering; the job may or may not \
                 be stored",
            ))
        })
    }

    /// One insert task: takes every job waiting into one statement, answers, and again, until
    /// none is left.
    async fn drain_gathered(&self) {
        let mut running = Running(Some(self));
        loop {
            let batch: Vec<Waiting> = {
                let mut state = lock(&self.inner.gather);
                let n = state.waiting.len().min(MAX_BATCH);
                if n == 0 {
                    // Counted out under the same lock that saw the queue empty: a job queued
                    // after this sees a free place and starts a task.
                    state.running -= 1;
                    running.0 = None;
                    return;
                }
                state.waiting.drain(..n).collect()
            };
            let (jobs, replies): (Vec<JobInsert>, Vec<_>) =
                batch.into_iter().map(|w| (w.job, w.reply)).unzip();
            let retry = (jobs.len() > 1).then(|| jobs.clone());
            match self.job_insert_direct(jobs).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                // One job's value refused: each on its own, so that only it fails.
                Err(e) if e.kind() == ErrorKind::InvalidInput && retry.is_some() => {
                    for (job, reply) in retry.into_iter().flatten().zip(replies) {
                        let one = self.job_insert_direct(vec![job]).await;
                        let _ = reply.send(one.and_then(|mut r| {
                            r.pop()
                                .ok_or_else(|| Error::new(ErrorKind::Decode, "no insert result"))
                        }));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(Error::new(e.kind(), e.to_string())));
                    }
                }
            }
        }
    }
}

/// Counts a task out if it ends by a panic (its callers then see `OutcomeUnknown`); a task that
/// ends normally counts itself out and disarms this.
struct Running<'a>(Option<&'a PgStorage>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(storage) = self.0 {
            lock(&storage.inner.gather).running -= 1;
        }
    }
}

fn lock(gather: &Gather) -> std::sync::MutexGuard<'_, State> {
    gather
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
