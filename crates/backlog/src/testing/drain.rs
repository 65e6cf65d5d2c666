//! [`drain`]: run every due job inline, once each, with the registered workers.

use std::collections::{BTreeSet, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog_storage::{
    Failure, JobFetchAvailableParams, JobFinish, JobFinishManyParams, JobOutcome,
    JobScheduleParams, Storage,
};
use backlog_types::{JobId, JobRow, JobState};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::backoff::StoredBackoff;
use crate::context::JobContext;
use crate::policy::{outcome, panic_message, Ended};
use crate::{Error, Workers};

/// What [`drain_with`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrainConfig {
    /// Also run jobs scheduled for later and retries waiting for their backoff, as if their
    /// time had come. Default: `false` (only jobs due now).
    pub with_scheduled: bool,
    /// Stop after this many attempts, whatever is left. Default 10,000.
    pub max_jobs: usize,
    /// Only these queues (all when empty).
    pub queues: Vec<String>,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            with_scheduled: false,
            max_jobs: 10_000,
            queues: Vec::new(),
        }
    }
}

impl DrainConfig {
    /// Only jobs due now, every queue.
    pub fn new() -> DrainConfig {
        DrainConfig::default()
    }

    /// Sets [`DrainConfig::with_scheduled`].
    pub fn with_scheduled(mut self, yes: bool) -> Self {
        self.with_scheduled = yes;
        self
    }

    /// Sets [`DrainConfig::max_jobs`].
    pub fn max_jobs(mut self, max: usize) -> Self {
        self.max_jobs = max;
        self
    }

    /// Adds a queue to [`DrainConfig::queues`].
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queues.push(queue.into());
        self
    }
}

/// How one attempt run by [`drain`] ended; the same outcome is stored on the job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// `work` returned `Ok(())`: the job is `completed`.
    Completed,
    /// The attempt failed (an error, a panic, a timeout) and the job will be retried after
    /// `delay`: it is `retryable`.
    Retry {
        /// The recorded error.
        error: String,
        /// The backoff before the next attempt.
        delay: Duration,
    },
    /// `work` asked to run again after `delay`, without spending an attempt.
    Snoozed {
        /// The requested delay.
        delay: Duration,
    },
    /// The job failed for good (asked to, out of attempts, or args that do not decode): it is
    /// `discarded`.
    Discarded {
        /// The recorded error.
        error: String,
    },
    /// `work` asked to cancel the job: it is `cancelled`.
    Cancelled {
        /// The recorded error.
        error: String,
    },
}

/// One attempt run by [`drain`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Drained {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// The attempt's number.
    pub attempt: i32,
    /// How it ended.
    pub outcome: Outcome,
    /// The result the job stored with [`Job::set_result`](crate::Job::set_result), if any.
    pub result: Option<serde_json::Value>,
}

/// Runs every job that is due now, inline, with `workers`, and returns what happened to each,
/// in the order they ran. Jobs enqueued by the jobs themselves run too. See [`drain_with`].
///
/// # Errors
///
/// When the storage fails.
pub async fn drain(storage: &Arc<dyn Storage>, workers: &Workers) -> Result<Vec<Drained>, Error> {
    drain_with(storage, workers, DrainConfig::default()).await
}

/// Runs due jobs inline, one at a time, with `workers`, until none is left, and returns what
/// happened to each attempt in the order they ran. Outcomes are stored exactly as a
/// [`Runner`](crate::Runner) would store them (backoff, timeouts, panics, results).
///
/// Each job runs **at most once** per call, so a job that retries or snoozes itself cannot
/// loop forever: it is left unfinished for a later call. A due job of a kind
/// with no registered worker here is claimed and handed back unrun, without spending an
/// attempt (it becomes `scheduled` for now). Kind concurrency and rate limits are not
/// applied: everything runs one after the other, in each queue's run order, queues in name
/// order.
///
/// # Errors
///
/// When the storage fails.
pub async fn drain_with(
    storage: &Arc<dyn Storage>,
    workers: &Workers,
    config: DrainConfig,
) -> Result<Vec<Drained>, Error> {
    let mut ran: Vec<Drained> = Vec::new();
    let mut seen: HashSet<JobId> = HashSet::new();
    let mut done_queues: HashSet<String> = HashSet::new();
    while ran.len() < config.max_jobs {
        if config.with_scheduled {
            let far = storage.now().await? + chrono::Duration::days(365 * 100);
            storage
                .job_schedule(JobScheduleParams {
                    now: Some(far),
                    max: 10_000,
                })
                .await?;
        }
        let queues = runnable_queues(storage, &config, &done_queues).await?;
        let Some(queue) = queues.into_iter().next() else {
            break;
        };
        let rows = storage
            .job_fetch_available(JobFetchAvailableParams {
                queue: queue.clone(),
                max: 100,
                worker_id: "backlog-testing-drain".to_owned(),
                lease: Duration::from_secs(3600),
                now: None,
                kinds: Vec::new(),
            })
            .await?;
        let mut ran_any = false;
        for row in rows {
            let Some(lease_token) = row.lease_token else {
                continue;
            };
            if ran.len() >= config.max_jobs
                || seen.contains(&row.id)
                || workers.get(&row.kind).is_none()
            {
                // Over the limit, ran already in this call (it retried or snoozed with no
                // delay), or no worker here: hand it back.
                hand_back(storage, &row, lease_token).await?;
                continue;
            }
            seen.insert(row.id);
            ran_any = true;
            ran.push(run_one(storage, workers, row, lease_token).await?);
        }
        if !ran_any {
            // Empty, paused, at its `max_running`, or only jobs that cannot run now.
            done_queues.insert(queue);
        }
    }
    Ok(ran)
}

/// Runs one claimed job and stores its outcome.
async fn run_one(
    storage: &Arc<dyn Storage>,
    workers: &Workers,
    row: JobRow,
    lease_token: backlog_types::LeaseToken,
) -> Result<Drained, Error> {
    let context = JobContext::new(storage.clone(), row.id, lease_token, 64 * 1024);
    let started = Instant::now();
    let outcome = attempt(&row, workers, context.clone()).await;
    let duration = started.elapsed();
    let result = context.finish().await;
    storage
        .job_finish_many(JobFinishManyParams {
            jobs: vec![JobFinish {
                id: row.id,
                lease_token,
                outcome: outcome.clone(),
                duration,
                result: result.clone(),
            }],
        })
        .await?;
    Ok(Drained {
        id: row.id,
        kind: row.kind,
        queue: row.queue,
        attempt: row.attempt,
        outcome: public(outcome),
        result,
    })
}

/// Queues with available jobs of registered kinds, sorted, that this call may still take from.
async fn runnable_queues(
    storage: &Arc<dyn Storage>,
    config: &DrainConfig,
    done: &HashSet<String>,
) -> Result<BTreeSet<String>, Error> {
    let counts = storage.job_count_by_state().await?;
    Ok(counts
        .into_iter()
        .filter(|c| c.state == JobState::Available && c.count > 0)
        .map(|c| c.queue)
        .filter(|q| !done.contains(q))
        .filter(|q| config.queues.is_empty() || config.queues.contains(q))
        .collect())
}

/// Returns a claimed job unrun, without spending an attempt: it becomes `scheduled` for now,
/// and a runner's scheduler (or the next [`drain_with`] with `with_scheduled`) makes it
/// `available` again.
async fn hand_back(
    storage: &Arc<dyn Storage>,
    row: &JobRow,
    lease_token: backlog_types::LeaseToken,
) -> Result<(), Error> {
    storage
        .job_finish_many(JobFinishManyParams {
            jobs: vec![JobFinish {
                id: row.id,
                lease_token,
                outcome: JobOutcome::Snooze {
                    delay: Duration::ZERO,
                },
                duration: Duration::ZERO,
                result: None,
            }],
        })
        .await?;
    Ok(())
}

async fn attempt(row: &JobRow, workers: &Workers, context: JobContext) -> JobOutcome {
    if let Some(expired) = crate::policy::expired(row) {
        return expired;
    }
    let Some(worker) = workers.get(&row.kind) else {
        return JobOutcome::Snooze {
            delay: Duration::ZERO,
        };
    };
    let future = match worker.start(row, CancellationToken::new(), context) {
        Ok(future) => future,
        Err(error) => {
            return JobOutcome::Discard {
                failure: Failure::error(format!(
                    "args do not decode as job kind `{}`: {error}; fix the args and retry the job",
                    row.kind
                ))
                .with_kind(crate::policy::error_kind::INVALID_ARGS),
            }
        }
    };
    let backoff = StoredBackoff::of(row).unwrap_or_else(|| worker.backoff());
    // `drain` has no queue or runner settings: an inherited backoff is the default.
    let timeout = crate::job::timeout_of(row).or_else(|| worker.timeout());
    let run = AssertUnwindSafe(future).catch_unwind();
    let ended = match timeout {
        Some(limit) => tokio::time::timeout(limit, run).await.ok(),
        None => Some(run.await),
    };
    let ended = match ended {
        None => Ended::TimedOut(timeout.unwrap_or_default()),
        Some(Ok(Ok(()))) => Ended::Ok,
        Some(Ok(Err(error))) => Ended::Failed(error),
        Some(Err(panic)) => Ended::Panicked(panic_message(panic)),
    };
    outcome(row, ended, &backoff)
}

fn public(outcome: JobOutcome) -> Outcome {
    match outcome {
        JobOutcome::Completed => Outcome::Completed,
        JobOutcome::Retry { failure, delay } => Outcome::Retry {
            error: failure.message,
            delay,
        },
        JobOutcome::Snooze { delay } => Outcome::Snoozed { delay },
        JobOutcome::Discard { failure } => Outcome::Discarded {
            error: failure.message,
        },
        JobOutcome::Cancel { failure } => Outcome::Cancelled {
            error: failure.message,
        },
    }
}
