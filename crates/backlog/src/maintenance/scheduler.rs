//! The scheduler: makes `scheduled` and `retryable` jobs `available` when their time comes.
//!
//! It sleeps until the earliest due time in the database (capped at `schedule_interval`), and
//! is woken early when this process records a retry or snooze.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{JobScheduleParams, Storage};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;

pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    hint: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let mut wait = config.schedule_interval;
        match storage
            .job_schedule(JobScheduleParams {
                now: None,
                max: config.batch,
            })
            .await
        {
            Ok(promoted) => {
                let total: u64 = promoted.iter().map(|q| q.count).sum();
                if total > 0 {
                    tracing::debug!(jobs = total, "scheduler made jobs available");
                }
                if total >= u64::from(config.batch) {
                    continue; // more may be due right now
                }
                match next_due_in(&*storage).await {
                    Ok(Some(due)) => wait = wait.min(due),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, "scheduler could not read the next due time")
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "scheduler pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hint.notified() => {
                // A retry or snooze was just recorded; its due time is now in the database.
                if let Ok(Some(due)) = next_due_in(&*storage).await {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(due.min(config.schedule_interval)) => {}
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long until the earliest scheduled or retryable job is due (zero if overdue).
async fn next_due_in(storage: &dyn Storage) -> Result<Option<Duration>, backlog_storage::Error> {
    let Some(next) = storage.job_next_scheduled_at().await? else {
        return Ok(None);
    };
    let now = storage.now().await?;
    Ok(Some((next - now).to_std().unwrap_or(Duration::ZERO)))
}
