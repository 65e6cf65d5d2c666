//! Maintenance services that keep jobs moving: the **Scheduler** makes due `scheduled` and
//! `retryable` jobs available, the **Rescuer** returns jobs whose worker stopped heartbeating
//! (and discards poison jobs), the **Cleaner** deletes or archives finished jobs past their
//! retention so the hot table stays small (and forgets expired idempotency keys), and the [`CronEnqueuer`] enqueues periodic jobs.
//! They run on one process at a time: the leader, elected through a lease in the database.
//!
//! They run on one process at a time among all those sharing the database: the leader, elected
//! by the Elector through a lease in the database. Each service is still
//! idempotent and races safely with copies of itself (every write skips rows another process
//! holds, ticks are compare-and-set), so the short overlap possible around a leader change is
//! harmless.

mod cleaner;
mod cron_enqueuer;
mod elector;
mod rescuer;
mod scheduler;
mod standalone;

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::Storage;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cron_enqueuer::{CronEnqueuer, CronPass};
pub(crate) use elector::run as run_elector;
pub use elector::MAINTENANCE_LEASE;
pub use standalone::Maintainer;

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
    /// How long the leader's lease lasts; the leader renews it every third of that. When a
    /// leader dies without resigning, another process takes over after at most this long.
    /// Default 10 s.
    pub leader_ttl: Duration,
    /// A due periodic tick at most this old is on time; older ones count as missed and follow
    /// the schedule's missed-tick policy. Default 60 s.
    pub cron_grace: Duration,
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
            leader_ttl: Duration::from_secs(10),
            cron_grace: Duration::from_secs(60),
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
        tokio::spawn(cleaner::run(
            storage.clone(),
            config.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(cron_enqueuer::run(storage, config, shutdown)),
    ]
}

/// Runs the services while `leader` says this process leads, stopping them (and waiting for
/// them) as soon as it does not; returns at `shutdown`.
pub(crate) async fn supervise(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    hint: Arc<Notify>,
    mut leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    loop {
        while !*leader.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leader.changed() => if changed.is_err() { return },
            }
        }
        let stop = shutdown.child_token();
        let services = spawn(storage.clone(), config.clone(), hint.clone(), stop.clone());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = leader.changed() => {
                    if changed.is_err() || !*leader.borrow_and_update() {
                        break;
                    }
                }
            }
        }
        stop.cancel();
        for service in services {
            let _ = service.await;
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}
