//! The settings of the [`router`](crate::router).

use std::sync::Arc;

use backlog_types::JobRow;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::Auth;

/// Rewrites a job before it is shown or returned (e.g. to hide secrets in its args); applied to
/// every job the API returns and every page renders.
pub type Redact = Arc<dyn Fn(&mut JobRow) + Send + Sync>;

/// A command for remote workers, sent through the ZeroMQ server of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerCommand {
    /// Finish what you hold, take nothing more.
    Quiet,
    /// Release what you hold and leave.
    Terminate,
}

/// Sends a [`WorkerCommand`] to the remote workers with the given id; resolves to how many
/// sessions were told (0: no such worker is connected). `backlog serve --zmq` wires this to
/// its ZeroMQ server.
pub type WorkerControl = Arc<
    dyn Fn(
            String,
            WorkerCommand,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>>
        + Send
        + Sync,
>;

/// Settings of the dashboard and API.
#[derive(Clone)]
pub struct WebOptions {
    /// Where the router is mounted, e.g. `/backlog` (`""`: at the root). Links and redirects
    /// use it. Default `""`.
    pub prefix: String,
    /// Who may read and act. Default [`Auth::None`].
    pub auth: Auth,
    /// Rewrites jobs before they are shown. Default: none.
    pub redact: Option<Redact>,
    /// Whether `POST /api/jobs` may enqueue a job. Default false.
    pub enqueue: bool,
    /// Most jobs one action by filter touches. Default 1,000.
    pub bulk_cap: u32,
    /// The Prometheus recorder's handle, rendered by `GET /metrics` (404 without one).
    pub metrics: Option<PrometheusHandle>,
    /// How long counts are cached: counting a large table costs a scan. Default 2 s. A count
    /// that took long is kept up to ten times its own duration (refreshed in the background).
    pub count_cache: std::time::Duration,
    /// Quiet / terminate for remote workers (`POST /api/workers/{id}/{command}`). Default:
    /// none, and the API answers that this process runs no server.
    pub worker_control: Option<WorkerControl>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            prefix: String::new(),
            auth: Auth::None,
            redact: None,
            enqueue: false,
            bulk_cap: 1000,
            metrics: None,
            count_cache: std::time::Duration::from_secs(2),
            worker_control: None,
        }
    }
}

impl std::fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebOptions")
            .field("prefix", &self.prefix)
            .field("auth", &self.auth)
            .field("redact", &self.redact.is_some())
            .field("enqueue", &self.enqueue)
            .field("bulk_cap", &self.bulk_cap)
            .field("metrics", &self.metrics.is_some())
            .field("count_cache", &self.count_cache)
            .field("worker_control", &self.worker_control.is_some())
            .finish()
    }
}

impl WebOptions {
    /// The prefix normalized: empty, or starting with `/` and not ending with one.
    pub(crate) fn normalized_prefix(&self) -> Result<String, crate::RouterError> {
        let p = self.prefix.trim_end_matches('/');
        if p.is_empty() {
            return Ok(String::new());
        }
        if !p.starts_with('/') || p.contains(['?', '#', '{', '}', '"', '<', '>', ' ']) {
            return Err(crate::RouterError::Prefix(self.prefix.clone()));
        }
        Ok(p.to_owned())
    }
}
