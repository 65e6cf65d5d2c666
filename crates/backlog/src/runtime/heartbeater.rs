//! The heartbeater: renews the leases of every job this process holds, stops jobs whose
//! lease was lost (rescued elsewhere) so they do not run on unattended, and applies the
//! cancellation requests its answer reports.
//!
//! Cancellation requests normally arrive within milliseconds as
//! [`Event::CancelRequested`](backlog_storage::Event) (through the notifier). The heartbeat is
//! the fallback, and it is not sped up to every second: that would write every held job's row
//! each second (on PostgreSQL, a dead tuple and an index update each) to cover a case that is
//! detectable instead. A signal is only lost when the listener reconnects (`Resync`) or a
//! subscriber lags (`Lagged`); the notifier then asks for an immediate heartbeat
//! (`heartbeat_now`). What remains is a signal that never comes (a SQLite process with the
//! file's watcher turned off, `SqliteConfig::cross_process_wakeups`): [`poll_cancellations`]
//! covers it with a cheap read every second (`RunnerConfig::cancel_poll_interval`) while this
//! process holds jobs.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::JobHeartbeatManyParams;
use backlog_types::LeaseToken;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared.config.lease / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = shared.heartbeat_now.notified() => {}
        }
        let jobs: Vec<(i64, LeaseToken)> = match shared.held.lock() {
            Ok(held) => held.iter().map(|(id, h)| (*id, h.lease_token)).collect(),
            Err(_) => return,
        };
        if jobs.is_empty() {
            continue;
        }
        let result = shared
            .storage
            .job_heartbeat_many(JobHeartbeatManyParams {
                jobs,
                lease: shared.config.lease,
            })
            .await;
        if let Ok(result) = &result {
            if !result.cancel_requested.is_empty() {
                let applied = shared.request_cancel(&result.cancel_requested);
                tracing::debug!(jobs = ?result.cancel_requested, applied, "cancellation requested (seen by heartbeat)");
            }
        }
        match result {
            Ok(result) if !result.lost.is_empty() => {
                tracing::warn!(jobs = ?result.lost, "lost the lease of running jobs; stopping them");
                shared.stats.leases_lost.fetch_add(
                    result.lost.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Ok(held) = shared.held.lock() {
                    for id in &result.lost {
                        if let Some(h) = held.get(id) {
                            h.stop.cancel();
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(error) => {
                shared.storage_failed();
                tracing::warn!(%error, "heartbeat failed; leases expire in {:?} unless renewed", shared.config.lease);
                // Try again sooner than the regular period.
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

/// Reads, every `every`, which of the held jobs have a cancellation request, and fires their
/// tokens. Read-only and skipped while nothing is held.
pub(crate) async fn poll_cancellations(
    shared: Arc<Shared>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ids: Vec<i64> = match shared.held.lock() {
            Ok(held) => held
                .iter()
                .filter(|(_, h)| !h.cancel.is_cancelled())
                .map(|(id, _)| *id)
                .collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            continue;
        }
        match shared
            .storage
            .job_cancel_requested(backlog_storage::JobIdsParams { ids })
            .await
        {
            Ok(requested) if !requested.is_empty() => {
                shared.request_cancel(&requested);
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "could not poll cancellation requests"),
        }
    }
}
