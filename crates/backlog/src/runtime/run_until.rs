//! Run a [`Runner`] until something says stop, then shut it down gracefully.

use std::future::Future;
use std::time::Duration;

use super::Runner;

impl Runner {
    /// Runs until `stop` completes, then shuts down gracefully with `grace` (see
    /// [`Runner::shutdown`]). Useful in tests and in programs with their own stop signal.
    ///
    /// ```
    /// # async fn demo(runner: backlog::Runner) {
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// # drop(tx);
    /// runner.run_until(async { let _ = rx.await; }, std::time::Duration::from_secs(30)).await;
    /// # }
    /// ```
    pub async fn run_until(self, stop: impl Future<Output = ()>, grace: Duration) {
        stop.await;
        self.shutdown(grace).await;
    }

    /// Runs until the process receives Ctrl-C (SIGINT) or, on Unix, SIGTERM, then shuts down
    /// gracefully with `grace`: running jobs get up to `grace` to finish, the rest are handed
    /// back as retryable. This is what a worker process's `main` usually ends with.
    ///
    /// If a signal handler cannot be installed, the error is logged and the runner shuts down
    /// at once rather than running with no way to be stopped gracefully.
    ///
    /// ```no_run
    /// # async fn demo(runner: backlog::Runner) {
    /// runner.run_until_signal(std::time::Duration::from_secs(30)).await;
    /// # }
    /// ```
    pub async fn run_until_signal(self, grace: Duration) {
        self.run_until(stop_signal(), grace).await;
    }
}

/// Completes on Ctrl-C or SIGTERM (Unix).
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => tracing::error!(%error, "cannot listen for SIGTERM; stopping"),
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received: shutting down"),
        () = term => tracing::info!("SIGTERM received: shutting down"),
    }
}
