//! The producer of one queue: claims jobs in batches sized to the free capacity and starts a
//! task for each.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::JobFetchAvailableParams;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::{executor, Held, QueueConfig, Shared};
use crate::telemetry;

/// The permits one job holds while it runs: its queue's, and the process-wide one if set.
pub(crate) struct Slot {
    queue: Option<OwnedSemaphorePermit>,
    global: Option<OwnedSemaphorePermit>,
    queue_limit: Arc<Semaphore>,
}

impl Slot {
    /// Gives the permits back while the job waits for something else (its kind's permit).
    pub(crate) fn release(&mut self) {
        self.queue = None;
        self.global = None;
    }

    /// Takes the permits again after [`Slot::release`].
    pub(crate) async fn reacquire(&mut self, global: Option<&Arc<Semaphore>>) {
        // Semaphores that are never closed cannot fail to acquire.
        if self.queue.is_none() {
            self.queue = self.queue_limit.clone().acquire_owned().await.ok();
        }
        if let (None, Some(global)) = (&self.global, global) {
            self.global = global.clone().acquire_owned().await.ok();
        }
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    queue: String,
    config: QueueConfig,
    wake: Arc<Notify>,
    mut ready: tokio::sync::watch::Receiver<bool>,
) {
    // Subscribed to wake-ups before the first fetch: see notifier::run.
    tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        _ = ready.wait_for(|ready| *ready) => {}
    }
    let limit = Arc::new(Semaphore::new(config.max_workers));
    let want = config
        .fetch_batch
        .unwrap_or(config.max_workers)
        .clamp(1, 1000)
        .min(config.max_workers);
    let mut fetch_now = true;
    let mut error_backoff = Duration::from_millis(100);
    loop {
        if !fetch_now {
            tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(shared.config.poll_interval) => {}
            }
        }
        let permits = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            p = capacity(&limit, shared.global_limit.as_ref(), want, shared.config.fetch_cooldown) => p,
        };
        let (mut queue_permits, mut global_permits) = permits;
        let asked = queue_permits.num_permits();
        // Not raced against shutdown: a claim whose answer is dropped would leave its jobs
        // running until their leases expire. The jobs of a finished fetch are run.
        let fetched = shared
            .storage
            .job_fetch_available(JobFetchAvailableParams {
                queue: queue.clone(),
                max: asked as u32,
                worker_id: shared.config.worker_id.clone(),
                lease: shared.config.lease,
                now: None,
                kinds: Vec::new(),
            })
            .await;
        let rows = match fetched {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%queue, %error, retry_in = ?error_backoff, "fetch failed");
                drop((queue_permits, global_permits));
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(error_backoff) => {}
                }
                error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                fetch_now = true;
                continue;
            }
        };
        error_backoff = Duration::from_millis(100);
        fetch_now = rows.len() == asked;
        shared
            .stats
            .fetched
            .fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // Every claim carries a token; a row without one could not be written back, so it is
        // left to the rescuer rather than run.
        let mut rows = rows;
        rows.retain(|row| {
            if row.lease_token.is_none() {
                tracing::error!(
                    job.id = row.id,
                    "claimed job has no lease token; leaving it to the rescuer"
                );
            }
            row.lease_token.is_some()
        });
        rows.iter().for_each(telemetry::started);
        if let Ok(mut held) = shared.held.lock() {
            for row in &rows {
                let Some(lease_token) = row.lease_token else {
                    continue;
                };
                held.insert(
                    row.id,
                    Held {
                        lease_token,
                        stop: shared.abort.child_token(),
                        cancel: tokio_util::sync::CancellationToken::new(),
                    },
                );
            }
        }
        for row in rows {
            // `asked` permits were taken and at most `asked` rows came back, so splits succeed.
            let Some(queue_permit) = queue_permits.split(1) else {
                break;
            };
            let global_permit = global_permits.as_mut().and_then(|g| g.split(1));
            let slot = Slot {
                queue: Some(queue_permit),
                global: global_permit,
                queue_limit: limit.clone(),
            };
            shared.jobs.spawn(executor::run(shared.clone(), row, slot));
        }
    }
}

/// Waits for at least one free slot, then takes up to `want`; when fewer than half are free,
/// waits up to `cooldown` for more so that fetches stay batched under load.
async fn capacity(
    limit: &Arc<Semaphore>,
    global: Option<&Arc<Semaphore>>,
    want: usize,
    cooldown: Duration,
) -> (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>) {
    let mut permits = take(limit, want, cooldown).await;
    let global_permits = match global {
        None => None,
        Some(global) => {
            let g = take(global, permits.num_permits(), cooldown).await;
            // Give back queue permits the global limit did not cover.
            while permits.num_permits() > g.num_permits() {
                drop(permits.split(1));
            }
            Some(g)
        }
    };
    (permits, global_permits)
}

async fn take(sem: &Arc<Semaphore>, want: usize, cooldown: Duration) -> OwnedSemaphorePermit {
    // A semaphore that is never closed cannot fail to acquire.
    let mut permits = loop {
        if let Ok(p) = sem.clone().acquire_owned().await {
            break p;
        }
    };
    grab(sem, &mut permits, want);
    let threshold = (want / 2).max(1);
    if permits.num_permits() < threshold {
        let missing = (threshold - permits.num_permits()) as u32;
        if let Ok(Ok(more)) =
            tokio::time::timeout(cooldown, sem.clone().acquire_many_owned(missing)).await
        {
            permits.merge(more);
        }
        grab(sem, &mut permits, want);
    }
    permits
}

fn grab(sem: &Arc<Semaphore>, permits: &mut OwnedSemaphorePermit, want: usize) {
    let extra = sem
        .available_permits()
        .min(want.saturating_sub(permits.num_permits()));
    if extra > 0 {
        if let Ok(more) = sem.clone().try_acquire_many_owned(extra as u32) {
            permits.merge(more);
        }
    }
}
