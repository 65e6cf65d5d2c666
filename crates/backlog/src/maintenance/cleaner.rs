//! The cleaner: deletes (or archives) finished jobs once they are past their state's retention,
//! in batches, so the job table — which every fetch walks — stays small; forgets idempotency
//! keys whose window has ended (so they may be used again); and forgets workflows and finished
//! batches once all their jobs are deleted.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{IdempotencyPruneParams, JobDeleteFinalizedParams, PruneParams, Storage};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;

pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) {
    let retention = &config.retention;
    let delete_jobs = retention.completed.is_some()
        || retention.cancelled.is_some()
        || retention.discarded.is_some();
    loop {
        if delete_jobs {
            delete_finalized(&*storage, &config).await;
        }
        prune_idempotency_keys(&*storage, config.batch).await;
        prune_workflows_and_batches(&*storage, config.batch).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.clean_interval) => {}
        }
    }
}

/// Deletes finished jobs past their retention, a batch at a time until none is left.
async fn delete_finalized(storage: &dyn Storage, config: &MaintenanceConfig) {
    let retention = &config.retention;
    loop {
        let now = match storage.now().await {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "cleaner could not read the database clock");
                return;
            }
        };
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
        return;
    }
}

/// Forgets idempotency keys whose window has ended (their jobs are not touched), a batch at a
/// time until none is left.
async fn prune_idempotency_keys(storage: &dyn Storage, batch: u32) {
    loop {
        let params = IdempotencyPruneParams {
            limit: batch,
            now: None,
        };
        match storage.idempotency_prune(params).await {
            Ok(pruned) if pruned >= u64::from(batch) => continue,
            Ok(pruned) if pruned > 0 => {
                tracing::debug!(keys = pruned, "cleaner forgot expired idempotency keys")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cleaner could not prune idempotency keys"),
        }
        return;
    }
}

/// Forgets workflows and finished batches whose jobs the cleaner has all deleted (and the
/// workflows' dependency edges): one sweep over each table, `batch` rows per call, so each call
/// is a short transaction however many workflows the retention keeps ([`PruneParams`]).
async fn prune_workflows_and_batches(storage: &dyn Storage, batch: u32) {
    match sweep(|params| storage.workflow_prune(params), batch).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(workflows = pruned, "cleaner forgot workflows"),
        Err(error) => tracing::warn!(%error, "cleaner could not prune workflows"),
    }
    match sweep(|params| storage.batch_prune(params), batch).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(batches = pruned, "cleaner forgot batches"),
        Err(error) => tracing::warn!(%error, "cleaner could not prune batches"),
    }
}

/// Calls `prune` window after window from the start of its table to the end; returns how many
/// rows it deleted.
async fn sweep<F, Fut>(prune: F, batch: u32) -> Result<u64, backlog_storage::Error>
where
    F: Fn(PruneParams) -> Fut,
    Fut: std::future::Future<Output = Result<backlog_storage::Pruned, backlog_storage::Error>>,
{
    let mut params = PruneParams::start(batch);
    let mut deleted = 0;
    loop {
        let window = prune(params).await?;
        deleted += window.deleted;
        match window.next {
            Some(after) => params.after = after,
            None => return Ok(deleted),
        }
    }
}

fn before(now: DateTime<Utc>, keep: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(keep)
        .ok()
        .and_then(|k| now.checked_sub_signed(k))
}
