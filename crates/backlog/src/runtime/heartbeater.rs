//! The heartbeater: renews the leases of every job this process holds, and stops jobs whose
//! lease was lost (rescued elsewhere) so they do not run on unattended.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::JobHeartbeatManyParams;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared.config.lease / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let jobs: Vec<(i64, i32)> = match shared.held.lock() {
            Ok(held) => held.iter().map(|(id, h)| (*id, h.attempt)).collect(),
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
        match result {
            Ok(result) if !result.lost.is_empty() => {
                tracing::warn!(jobs = ?result.lost, "lost the lease of running jobs; stopping them");
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
