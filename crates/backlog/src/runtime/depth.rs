//! Refreshes the `backlog_queue_depth` gauges: jobs per queue for the states still to finish
//! (available, scheduled, running, retryable). They are counted through the partial indexes
//! that hold only those jobs, so a long history of finished jobs costs the count nothing:
//! counting every state scanned the whole table, 1–3 s every 30 s in every runner at
//! 10,000,000 finished jobs (docs/benchmarks.md, "A big history").

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::telemetry;

pub(crate) async fn run(shared: Arc<Shared>, interval: Duration) {
    let mut previous = Vec::new();
    loop {
        match shared.storage.job_count_unfinished().await {
            Ok(counts) => telemetry::queue_depth(&counts, &mut previous),
            Err(error) => tracing::debug!(%error, "could not count jobs for the depth gauges"),
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
