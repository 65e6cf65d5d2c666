//! The registration: tells the database, on the heartbeat cadence (a third of the lease),
//! which process this runner is (host, pid), what it runs (kinds, queues, capacity) and how many
//! jobs it holds, so that the dashboard's Workers page can list live workers. The row is removed
//! at a clean shutdown; a crashed process's row simply stops being refreshed and ages out of the
//! list.

use std::sync::Arc;

use backlog_storage::WorkerHeartbeatParams;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Shared;

/// The `origin` of runners embedded in an application (remote workers use their own).
pub(crate) const IN_PROCESS: &str = "in_process";

/// What this runner reports about itself, without the changing `in_flight`.
pub(crate) fn report(shared: &Shared, queues: &[(String, usize)]) -> WorkerHeartbeatParams {
    let per_queue: usize = queues.iter().map(|(_, n)| *n).sum();
    let capacity = shared
        .config
        .max_workers_total
        .map_or(per_queue, |total| total.min(per_queue));
    let id = &shared.config.worker_id;
    WorkerHeartbeatParams {
        id: id.clone(),
        // The default worker id starts with the host name; a custom one may not.
        host: host_name(),
        pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        kinds: shared
            .workers
            .kinds()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        queues: queues
            .iter()
            .map(|(q, n)| (q.clone(), u32::try_from(*n).unwrap_or(u32::MAX)))
            .collect(),
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
        in_flight: 0,
        origin: IN_PROCESS.to_owned(),
        now: None,
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Refreshes the registration until `stop`; failures are logged and retried next period.
pub(crate) async fn run(
    shared: Arc<Shared>,
    report: WorkerHeartbeatParams,
    registered: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let every = shared.config.lease / 3;
    loop {
        let in_flight = shared.held.lock().map(|h| h.len()).unwrap_or(0);
        let params = WorkerHeartbeatParams {
            in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
            ..report.clone()
        };
        match shared.storage.worker_heartbeat(params).await {
            Ok(()) => {
                registered.send_if_modified(|r| !std::mem::replace(r, true));
            }
            Err(error) => {
                tracing::debug!(%error, "worker registration failed; retrying next heartbeat");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Removes the registration at a clean shutdown.
pub(crate) async fn leave(shared: &Shared) {
    if let Err(error) = shared.storage.worker_delete(&shared.config.worker_id).await {
        tracing::debug!(%error, "could not remove the worker registration; it ages out");
    }
}
