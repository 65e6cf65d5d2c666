//! The maintenance services without in-process workers: what a process that only serves (the
//! dashboard, a server for remote workers) runs so that jobs keep moving.

use std::sync::Arc;

use backlog_storage::Storage;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;

/// The Elector and, while this process leads, the Scheduler, Rescuer, Cleaner and
/// CronEnqueuer, started without a [`Runner`](crate::Runner). Stop it with
/// [`Maintainer::shutdown`], which resigns the leadership so another process takes over at once.
///
/// ```no_run
/// # async fn example(storage: std::sync::Arc<dyn backlog::Storage>) {
/// use backlog::maintenance::{MaintenanceConfig, Maintainer};
///
/// let maintainer = Maintainer::start(storage, "server-1".into(), MaintenanceConfig::default());
/// // ... until the process is asked to stop:
/// maintainer.shutdown().await;
/// # }
/// ```
#[derive(Debug)]
pub struct Maintainer {
    shutdown: CancellationToken,
    elector: JoinHandle<()>,
    supervisor: JoinHandle<()>,
    leader: watch::Receiver<bool>,
}

impl Maintainer {
    /// Starts the election under `id` (unique per process) and the services it gates.
    pub fn start(storage: Arc<dyn Storage>, id: String, config: MaintenanceConfig) -> Maintainer {
        let shutdown = CancellationToken::new();
        let (leader_tx, leader) = watch::channel(false);
        let elector = tokio::spawn(super::run_elector(
            storage.clone(),
            id,
            config.leader_ttl,
            leader_tx,
            shutdown.clone(),
        ));
        let supervisor = tokio::spawn(super::supervise(
            storage,
            config,
            Arc::new(Notify::new()),
            leader.clone(),
            shutdown.clone(),
        ));
        Maintainer {
            shutdown,
            elector,
            supervisor,
            leader,
        }
    }

    /// Follows the leadership: `true` while this process leads.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Stops the services and resigns the leadership.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.elector.await;
        let _ = self.supervisor.await;
    }
}
