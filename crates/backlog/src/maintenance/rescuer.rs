//! The rescuer: returns `running` jobs whose lease expired (their worker crashed, was killed
//! or lost the database) to `retryable`, or `discards` them when their attempts are used up or
//! when they have been rescued `poison_threshold` times (poison jobs).

use std::sync::Arc;

use backlog_storage::{JobRescueParams, Storage};
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;

pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) {
    loop {
        match storage
            .job_rescue(JobRescueParams {
                now: None,
                max: config.batch,
                poison_threshold: config.poison_threshold,
            })
            .await
        {
            Ok(ids) if !ids.is_empty() => {
                crate::telemetry::rescued(ids.len());
                tracing::warn!(jobs = ?ids, "rescued jobs whose worker stopped heartbeating");
                if ids.len() >= config.batch as usize {
                    continue;
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "rescuer pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.rescue_interval) => {}
        }
    }
}
