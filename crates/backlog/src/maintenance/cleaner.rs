//! The cleaner: deletes (or archives) finished jobs once they are past their state's retention,
//! in batches, so the job table — which every fetch walks — stays small.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{JobDeleteFinalizedParams, Storage};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;

pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) {
    let retention = &config.retention;
    if retention.completed.is_none()
        && retention.cancelled.is_none()
        && retention.discarded.is_none()
    {
        return;
    }
    loop {
        match storage.now().await {
            Ok(now) => {
                let cutoff = |keep: Option<Duration>| keep.and_then(|k| before(now, k));
                let params = JobDeleteFinalizedParams {
                    completed_before: cutoff(retention.completed),
                    cancelled_before: cutoff(retention.cancelled),
                    discarded_before: cutoff(retention.discarded),
                    max: config.batch,
                    archive: retention.archive,
                };
                match storage.job_delete_finalized(params).await {
                    Ok(deleted) if deleted >= u64::from(config.batch) => continue,
                    Ok(deleted) if deleted > 0 => {
                        tracing::debug!(
                            jobs = deleted,
                            archived = retention.archive,
                            "cleaner removed finished jobs"
                        )
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "cleaner pass failed"),
                }
            }
            Err(error) => tracing::warn!(%error, "cleaner could not read the database clock"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.clean_interval) => {}
        }
    }
}

fn before(now: DateTime<Utc>, keep: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(keep)
        .ok()
        .and_then(|k| now.checked_sub_signed(k))
}
