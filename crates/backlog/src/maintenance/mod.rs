//! Maintenance services that keep jobs moving: the [`Scheduler`](scheduler) makes due
//! `scheduled` and `retryable` jobs available, the [`Rescuer`](rescuer) returns jobs whose
//! worker stopped heartbeating.
//!
//! Each service is idempotent and races safely with copies of itself in other processes
//! (every write skips rows another process holds).

mod rescuer;
mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::Storage;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Settings of the maintenance services.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Longest the scheduler sleeps between checks (it also wakes at the next due time it
    /// knows of). Default 1 s.
    pub schedule_interval: Duration,
    /// How often the rescuer looks for expired leases. Default 5 s.
    pub rescue_interval: Duration,
    /// Most jobs each service moves per pass. Default 1,000.
    pub batch: u32,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            schedule_interval: Duration::from_secs(1),
            rescue_interval: Duration::from_secs(5),
            batch: 1000,
        }
    }
}

/// Starts the services; they stop when `shutdown` is cancelled.
pub(crate) fn spawn(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    hint: Arc<Notify>,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(scheduler::run(
            storage.clone(),
            config.clone(),
            hint,
            shutdown.clone(),
        )),
        tokio::spawn(rescuer::run(storage, config, shutdown)),
    ]
}
