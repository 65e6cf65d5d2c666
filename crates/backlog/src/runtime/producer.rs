//! The producer of one queue: claims jobs in batches sized to the free capacity (plus, while
//! jobs are short, some ahead of it: see [`Prefetch`]) and starts a task for each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::JobFetchAvailableParams;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::{executor, Held, Prefetch, QueueConfig, Shared, PREFETCH_WAIT_BUDGET};
use crate::telemetry;

/// Most jobs one fetch claims, free slots and claimed-ahead together.
const MAX_CLAIM: usize = 1000;

/// What the producer of a queue learns from its finished attempts.
#[derive(Debug)]
pub(crate) struct QueueStats {
    /// Moving average of attempt durations in microseconds; `u64::MAX` before the first.
    average_us: AtomicU64,
    /// The queue's backoff, already resolved against the runner's.
    pub(crate) backoff: crate::Backoff,
}

impl QueueStats {
    fn new(backoff: crate::Backoff) -> QueueStats {
        QueueStats {
            average_us: AtomicU64::new(u64::MAX),
            backoff,
        }
    }

    /// Folds one attempt's duration into the average (weight 1/16; racing updates may drop
    /// one sample, which an average can afford).
    pub(crate) fn observe(&self, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX / 2);
        let old = self.average_us.load(Ordering::Relaxed);
        let new = if old == u64::MAX {
            us
        } else {
            old - old / 16 + us / 16
        };
        self.average_us.store(new, Ordering::Relaxed);
    }

    /// How many jobs to claim ahead with `Prefetch::Auto`: as many as `slots` slots start
    /// within the wait budget at the average duration.
    fn auto_prefetch(&self, slots: usize) -> usize {
        match self.average_us.load(Ordering::Relaxed) {
            u64::MAX => 0,
            average => {
                let budget = PREFETCH_WAIT_BUDGET.as_micros() as u64;
                let per_slot = budget / average.max(1);
                usize::try_from(per_slot.saturating_mul(slots as u64))
                    .unwrap_or(usize::MAX)
                    .min(MAX_CLAIM)
            }
        }
    }
}

/// The permits one job holds while it runs: its queue's, and the process-wide one if set. A
/// job claimed ahead starts without them and holds a place in the prefetch buffer instead until
/// it gets them ([`Slot::wait_for_room`]).
pub(crate) struct Slot {
    queue: Option<OwnedSemaphorePermit>,
    global: Option<OwnedSemaphorePermit>,
    queue_limit: Arc<Semaphore>,
    /// While claimed ahead: the place in the buffer.
    ahead: Option<OwnedSemaphorePermit>,
    /// The runner's storage failures when the job was claimed (see `Shared::storage_failures`).
    failures_at_claim: u64,
    pub(crate) stats: Arc<QueueStats>,
}

/// How the wait of a job claimed ahead ended.
pub(crate) enum Room {
    /// It holds its permits now and may run.
    Granted,
    /// The runner is stopping, the lease was lost, or it waited too long: hand it back.
    HandBack,
    /// Its cancellation was requested while it waited.
    Cancelled,
}

impl Slot {
    /// Whether this job was claimed ahead and still waits for its permits.
    pub(crate) fn waiting(&self) -> bool {
        self.ahead.is_some()
    }

    /// Waits for the permits of a job claimed ahead, in claim order (the semaphores are fair).
    pub(crate) async fn wait_for_room(
        &mut self,
        shared: &Shared,
        stop: &tokio_util::sync::CancellationToken,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Room {
        let mut room = tokio::select! {
            _ = self.reacquire(shared.global_limit.as_ref()) => Room::Granted,
            _ = stop.cancelled() => Room::HandBack,
            _ = shared.shutdown.cancelled() => Room::HandBack,
            _ = cancel.cancelled() => Room::Cancelled,
            _ = tokio::time::sleep(super::PREFETCH_MAX_WAIT) => Room::HandBack,
        };
        // A storage call failed while it waited: the database may have lost its claim.
        let failures = shared.storage_failures.load(Ordering::SeqCst);
        if matches!(room, Room::Granted) && failures != self.failures_at_claim {
            room = Room::HandBack;
        }
        if !matches!(room, Room::Granted) {
            self.release();
        }
        self.ahead = None;
        room
    }

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
        .clamp(1, MAX_CLAIM)
        .min(config.max_workers);
    let stats = Arc::new(QueueStats::new(
        config.backoff.clone().or(shared.config.backoff.clone()),
    ));
    // Places in the buffer of jobs claimed ahead of a free slot.
    let ahead_limit = Arc::new(Semaphore::new(match config.prefetch {
        Prefetch::Off => 0,
        Prefetch::Auto => MAX_CLAIM,
        Prefetch::Fixed(n) => n.min(MAX_CLAIM),
    }));
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
        let slots = queue_permits.num_permits();
        let ahead_wanted = match config.prefetch {
            Prefetch::Off => 0,
            Prefetch::Auto => stats.auto_prefetch(config.max_workers),
            Prefetch::Fixed(n) => n,
        }
        .min(MAX_CLAIM.saturating_sub(slots))
        .min(ahead_limit.available_permits());
        let mut ahead_permits = match ahead_wanted {
            0 => None,
            n => ahead_limit.clone().try_acquire_many_owned(n as u32).ok(),
        };
        let asked = slots + ahead_permits.as_ref().map_or(0, |p| p.num_permits());
        let failures_at_claim = shared.storage_failures.load(Ordering::SeqCst);
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
                shared.storage_failed();
                tracing::warn!(%queue, %error, retry_in = ?error_backoff, "fetch failed");
                drop((queue_permits, global_permits, ahead_permits));
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
            // `asked` permits were taken (slots, then places ahead) and at most `asked` rows
            // came back: each row gets a slot, else a place in the buffer.
            let slot = match queue_permits.split(1) {
                Some(queue_permit) => Slot {
                    queue: Some(queue_permit),
                    global: global_permits.as_mut().and_then(|g| g.split(1)),
                    queue_limit: limit.clone(),
                    ahead: None,
                    failures_at_claim,
                    stats: stats.clone(),
                },
                None => {
                    let Some(place) = ahead_permits.as_mut().and_then(|a| a.split(1)) else {
                        break;
                    };
                    Slot {
                        queue: None,
                        global: None,
                        queue_limit: limit.clone(),
                        ahead: Some(place),
                        failures_at_claim,
                        stats: stats.clone(),
                    }
                }
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
