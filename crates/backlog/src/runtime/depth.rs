//! Refreshes the `backlog_queue_depth` gauges: jobs per queue and state.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::telemetry;

pub(crate) async fn run(shared: Arc<Shared>, interval: Duration) {
    let mut previous = Vec::new();
    loop {
        match shared.storage.job_count_by_state().await {
            Ok(counts) => telemetry::queue_depth(&counts, &mut previous),
            Err(error) => tracing::debug!(%error, "could not count jobs for the depth gauges"),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
