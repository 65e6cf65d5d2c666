//! Maintenance services that keep jobs moving: the **Scheduler** makes due
//! `scheduled` and `retryable` jobs available, the **Rescuer** returns jobs whose
//! worker stopped heartbeating (and discards poison jobs), the **Cleaner** deletes or
//! archives finished jobs past their retention so the hot table stays small.
//!
//! Each service is idempotent and races safely with copies of itself in other processes
//! (every write skips rows another process holds).

mod cleaner;
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
    /// A job rescued this many times is a poison job (it keeps crashing or stalling its
    /// worker) and is discarded instead of retried. Default 5; 0 turns the check off.
    pub poison_threshold: i32,
    /// How long finished jobs stay in the job table, per final state.
    pub retention: Retention,
    /// How often the cleaner runs. Default 30 s.
    pub clean_interval: Duration,
}

/// How long finished jobs are kept before the cleaner deletes (or archives) them. `None` keeps
/// them forever. Defaults, as River's: completed 24 h, cancelled and discarded 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Completed jobs.
    pub completed: Option<Duration>,
    /// Cancelled jobs.
    pub cancelled: Option<Duration>,
    /// Discarded jobs (the dead letters).
    pub discarded: Option<Duration>,
    /// Move jobs into `backlog_job_archive` (queryable with plain SQL) instead of only
    /// deleting them. Default false.
    pub archive: bool,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        Retention {
            completed: Some(DAY),
            cancelled: Some(7 * DAY),
            discarded: Some(7 * DAY),
            archive: false,
        }
    }
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            schedule_interval: Duration::from_secs(1),
            rescue_interval: Duration::from_secs(5),
            batch: 1000,
            poison_threshold: 5,
            retention: Retention::default(),
            clean_interval: Duration::from_secs(30),
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
        tokio::spawn(rescuer::run(
            storage.clone(),
            config.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(cleaner::run(storage, config, shutdown)),
    ]
}
