//! Admission: what a fetched job passes before its attempt starts. The queue's and the
//! process's permits are taken by the producer before the fetch; here come the per-kind
//! concurrency limit of this process ([`Worker::max_concurrent`](crate::Worker::max_concurrent))
//! and the cluster-wide per-kind rate limit ([`Worker::rate_limit`](crate::Worker::rate_limit)).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{JobOutcome, RateLimitTakeParams};
use backlog_types::JobRow;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::producer::Slot;
use super::Shared;
use crate::registry::{ErasedWorker, Workers};

/// How long a job is snoozed when its kind is at its limit and enough jobs of the kind are
/// already waiting in this process.
const KIND_BUSY_SNOOZE: Duration = Duration::from_secs(1);
/// Snooze when the rate-limit bucket cannot be read (the database is failing).
const RATE_ERROR_SNOOZE: Duration = Duration::from_secs(1);
/// Shortest snooze for a rate-limited job, so a bucket a hair short of a token does not spin.
const RATE_MIN_SNOOZE: Duration = Duration::from_millis(10);

/// One kind's concurrency limit in this process.
pub(crate) struct KindLimit {
    permits: Arc<Semaphore>,
    /// Jobs of the kind waiting for a permit without a queue slot.
    waiting: AtomicUsize,
    /// The limit, also the most jobs allowed to wait.
    max: usize,
}

/// The kind limits of a set of workers.
pub(crate) fn kind_limits(workers: &Workers) -> std::collections::HashMap<&'static str, KindLimit> {
    workers
        .iter()
        .filter_map(|(kind, worker)| {
            let max = worker.max_concurrent()?.max(1);
            Some((
                kind,
                KindLimit {
                    permits: Arc::new(Semaphore::new(max)),
                    waiting: AtomicUsize::new(0),
                    max,
                },
            ))
        })
        .collect()
}

/// Whether the job runs now (holding its kind permit, if its kind has a limit) or goes back to
/// the database with this outcome.
pub(crate) enum Admission {
    Run(Option<OwnedSemaphorePermit>),
    Hold(JobOutcome),
}

/// Given back without spending an attempt: the job never started.
fn not_started(delay: Duration) -> Admission {
    Admission::Hold(JobOutcome::Snooze { delay })
}

pub(crate) async fn admit(
    shared: &Shared,
    row: &JobRow,
    worker: Option<&dyn ErasedWorker>,
    slot: &mut Slot,
    stop: &CancellationToken,
) -> Admission {
    let Some(worker) = worker else {
        return Admission::Run(None);
    };
    let permit = match shared.kind_limits.get(row.kind.as_str()) {
        None => None,
        Some(limit) => match limit.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                if limit.waiting.fetch_add(1, Ordering::SeqCst) >= limit.max {
                    limit.waiting.fetch_sub(1, Ordering::SeqCst);
                    tracing::debug!(job.id = row.id, kind = %row.kind, "kind at its limit with jobs waiting: snoozed");
                    return not_started(KIND_BUSY_SNOOZE);
                }
                // Wait without the queue slot, so that other kinds keep running.
                slot.release();
                let acquired = tokio::select! {
                    permit = limit.permits.clone().acquire_owned() => permit.ok(),
                    _ = stop.cancelled() => None,
                };
                limit.waiting.fetch_sub(1, Ordering::SeqCst);
                let Some(permit) = acquired else {
                    return not_started(Duration::ZERO);
                };
                tokio::select! {
                    _ = slot.reacquire(shared.global_limit.as_ref()) => {}
                    _ = stop.cancelled() => return not_started(Duration::ZERO),
                }
                Some(permit)
            }
        },
    };
    if let Some(limit) = worker.rate_limit() {
        let take = shared
            .storage
            .rate_limit_take(RateLimitTakeParams {
                key: backlog_storage::kind_bucket(&row.kind),
                limit,
                want: 1,
                now: None,
            })
            .await;
        match take {
            Ok(take) if take.granted >= 1 => {}
            Ok(take) => return not_started(take.retry_after.max(RATE_MIN_SNOOZE)),
            Err(error) => {
                tracing::warn!(job.id = row.id, %error, "could not check the kind's rate limit; snoozing the job");
                return not_started(RATE_ERROR_SNOOZE);
            }
        }
    }
    Admission::Run(permit)
}
