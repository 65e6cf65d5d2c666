//! Runs one attempt of one job: decode, run with panic capture and timeout, decide the outcome.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog_storage::{Failure, JobFinish, JobOutcome};
use backlog_types::JobRow;
use futures_util::FutureExt;
use tracing::Instrument;

use tokio_util::sync::CancellationToken;

use super::admission::{self, Admission};
use super::completer::Completion;
use super::producer::{Room, Slot};
use super::Shared;
use crate::backoff::StoredBackoff;
use crate::context::JobContext;
use crate::policy::{outcome, panic_message, retry_or_discard_row, Ended};
use crate::registry::ErasedWorker;
use crate::Backoff;

pub(crate) async fn run(shared: Arc<Shared>, row: JobRow, mut slot: Slot) {
    let span = tracing::info_span!(
        "backlog.job",
        job.id = row.id,
        job.kind = %row.kind,
        job.queue = %row.queue,
        job.attempt = row.attempt,
    );
    let Some(lease_token) = row.lease_token else {
        // The producer only spawns claimed rows, which all carry a token.
        tracing::error!(
            job.id = row.id,
            "claimed job has no lease token; leaving it to the rescuer"
        );
        return;
    };
    let (stop, cancel) = shared
        .held
        .lock()
        .ok()
        .and_then(|held| {
            held.get(&row.id)
                .map(|h| (h.stop.clone(), h.cancel.clone()))
        })
        .unwrap_or_default();
    let signals = Signals {
        stop,
        cancel,
        grace: shared.config.cancel_grace,
    };
    let worker = shared.workers.get(&row.kind).cloned();
    let context = JobContext::new(
        shared.storage.clone(),
        row.id,
        lease_token,
        shared.config.max_result_bytes,
    );
    let mut started = Instant::now();
    // A job claimed ahead of a free slot waits for one first (see `Prefetch`).
    let room = if slot.waiting() {
        slot.wait_for_room(&shared, &signals.stop, &signals.cancel)
            .await
    } else {
        Room::Granted
    };
    let admitted = match room {
        Room::Granted => {
            admission::admit(&shared, &row, worker.as_deref(), &mut slot, &signals.stop).await
        }
        // Handed back unstarted: no attempt spent, its place in the run order kept.
        Room::HandBack => Admission::Hold(JobOutcome::Snooze {
            delay: Duration::ZERO,
        }),
        Room::Cancelled => Admission::Hold(JobOutcome::Cancel {
            failure: Failure::error("cancelled before it started")
                .with_kind(crate::policy::error_kind::CANCELLED),
        }),
    };
    let (outcome, _kind_permit) = match admitted {
        Admission::Hold(outcome) => (outcome, None),
        Admission::Run(permit) => {
            started = Instant::now();
            let outcome = attempt(
                &shared,
                &row,
                worker.as_deref(),
                context.clone(),
                &signals,
                &span,
                &slot.stats.backoff,
            )
            .await;
            slot.stats.observe(started.elapsed());
            (outcome, permit)
        }
    };
    let outcome = outcome.instrument_outcome(&span);
    let duration = started.elapsed();
    let result = context.finish().await;
    let completion = Completion {
        finish: JobFinish {
            id: row.id,
            lease_token,
            outcome,
            duration,
            result,
        },
        attempt: row.attempt,
        kind: row.kind,
        queue: row.queue,
    };
    // The channel only closes after every job task has ended, so this cannot fail.
    let _ = shared.completions.send(completion).await;
    drop(slot);
}

/// What can stop an attempt from outside.
struct Signals {
    /// Shutdown deadline passed or lease lost: hand the job back.
    stop: CancellationToken,
    /// Cancellation of the job was requested.
    cancel: CancellationToken,
    /// How long a job may ignore a cancellation request before it is dropped.
    grace: Duration,
}

/// Runs the attempt and maps how it ended to the outcome to store.
async fn attempt(
    shared: &Shared,
    row: &JobRow,
    worker: Option<&dyn ErasedWorker>,
    context: JobContext,
    signals: &Signals,
    span: &tracing::Span,
    queue_backoff: &Backoff,
) -> JobOutcome {
    let Signals {
        stop,
        cancel,
        grace,
    } = signals;
    let grace = *grace;
    if let Some(expired) = crate::policy::expired(row) {
        return expired;
    }
    let job_token = cancel.child_token();
    match worker {
        None => {
            let known = shared.workers.kinds().join(", ");
            let failure = Failure::error(format!(
                "unknown job kind `{}`: no worker is registered for it in this process (registered: {known})",
                row.kind
            ))
            .with_kind(crate::policy::error_kind::UNKNOWN_KIND);
            retry_or_discard_row(row, failure, queue_backoff)
        }
        // The job's own token fires on a cancellation request (its parent) and on a timeout
        // (itself only, so a timeout is not mistaken for a cancellation request).
        Some(worker) => match worker.start(row, job_token.clone(), context) {
            Err(error) => JobOutcome::Discard {
                failure: Failure::error(format!(
                    "args do not decode as job kind `{}`: {error}; fix the args and retry the job",
                    row.kind
                ))
                .with_kind(crate::policy::error_kind::INVALID_ARGS),
            },
            Ok(future) => {
                let timeout = crate::job::timeout_of(row).or_else(|| worker.timeout());
                let attempt = AssertUnwindSafe(future.instrument(span.clone())).catch_unwind();
                tokio::pin!(attempt);
                let first = tokio::select! {
                    result = &mut attempt => Some(match result {
                        Ok(Ok(())) => Ended::Ok,
                        Ok(Err(error)) => Ended::Failed(error),
                        Err(panic) => Ended::Panicked(panic_message(panic)),
                    }),
                    _ = sleep_or_forever(timeout) => None,
                    _ = stop.cancelled() => Some(Ended::Interrupted),
                    _ = ignored_cancel(cancel, grace) => Some(Ended::Cancelled(format!(
                        "cancelled while running; the job did not stop within {grace:?} and was dropped"
                    ))),
                };
                let ended = match first {
                    Some(ended) => ended,
                    None => {
                        // Timed out: fire the job's token so its code can stop cleanly, give
                        // it the grace period, then fail the attempt whatever it returns.
                        job_token.cancel();
                        let _ = tokio::time::timeout(grace, &mut attempt).await;
                        Ended::TimedOut(timeout.unwrap_or_default())
                    }
                };
                let ended = after_cancel_request(ended, signals.cancel.is_cancelled());
                // The job's own, else its worker's, else its queue's (resolved against the
                // runner's).
                let backoff = StoredBackoff::of(row)
                    .unwrap_or_else(|| worker.backoff().or(queue_backoff.clone()));
                outcome(row, ended, &backoff)
            }
        },
    }
}

/// Completes `grace` after cancellation was requested: the job ignored the request.
async fn ignored_cancel(cancel: &tokio_util::sync::CancellationToken, grace: Duration) {
    cancel.cancelled().await;
    tokio::time::sleep(grace).await;
}

/// Once cancellation was requested, an attempt that did not succeed ends `cancelled` rather
/// than retried, whatever stopped it (its own error, a panic, a timeout, or the shutdown
/// interrupting it). Success stays success: the work was done. Without a request, shutdown
/// interruption and lease loss stay [`Ended::Interrupted`] (handed back as retryable).
fn after_cancel_request(ended: Ended, requested: bool) -> Ended {
    if !requested {
        return ended;
    }
    match ended {
        Ended::Ok | Ended::Cancelled(_) => ended,
        Ended::Failed(error) => {
            Ended::Cancelled(format!("cancelled while running: {}", error.message))
        }
        Ended::Panicked(message) => {
            Ended::Cancelled(format!("cancelled while running; then panicked: {message}"))
        }
        Ended::TimedOut(limit) => Ended::Cancelled(format!(
            "cancelled while running; then timed out after {limit:?}"
        )),
        Ended::Interrupted => {
            Ended::Cancelled("cancelled while running; interrupted before it stopped".into())
        }
    }
}

async fn sleep_or_forever(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

trait LogOutcome {
    fn instrument_outcome(self, span: &tracing::Span) -> Self;
}

impl LogOutcome for JobOutcome {
    /// Logs failures inside the job's span.
    fn instrument_outcome(self, span: &tracing::Span) -> Self {
        let _entered = span.enter();
        match &self {
            JobOutcome::Completed => tracing::debug!("job completed"),
            JobOutcome::Retry { failure, delay } => {
                tracing::warn!(error = %failure.message, retry_in = ?delay, "job failed; will retry")
            }
            JobOutcome::Discard { failure } => {
                tracing::warn!(error = %failure.message, "job discarded")
            }
            JobOutcome::Cancel { failure } => {
                tracing::info!(reason = %failure.message, "job cancelled")
            }
            JobOutcome::Snooze { delay } => tracing::debug!(?delay, "job snoozed"),
        }
        self
    }
}
