//! [`Runner::run_until`] and [`Runner::run_until_signal`]: run, then shut down gracefully.

use std::future::Future;
use std::time::Duration;

use super::{Runner, ShutdownReport};

impl Runner {
    /// Runs until `stop` completes, then shuts down gracefully with
    /// [`Runner::shutdown`]`(grace)`: no new jobs are fetched, running jobs get `grace` to
    /// finish, the rest are handed back for another worker.
    ///
    /// ```no_run
    /// # async fn example(runner: backlog::Runner) {
    /// let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    /// // ... hand stop_tx to whatever decides the process should stop
    /// # drop(stop_tx);
    /// runner
    ///     .run_until(async { let _ = stop_rx.await; }, std::time::Duration::from_secs(30))
    ///     .await;
    /// # }
    /// ```
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()>,
        grace: Duration,
    ) -> ShutdownReport {
        stop.await;
        tracing::info!(grace = ?grace, "stop requested; shutting the runner down");
        self.shutdown(grace).await
    }

    /// Runs until the process receives Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
    /// `docker stop`, Kubernetes and systemd send), then shuts down gracefully with
    /// [`Runner::shutdown`]`(grace)`. The signal handlers are installed when this is called
    /// (call it inside the tokio runtime), so a signal that arrives before the returned future
    /// is first polled is not missed; they stay installed, so a second signal does not kill the
    /// process during the grace period (send SIGKILL for that).
    ///
    /// ```no_run
    /// # async fn example(runner: backlog::Runner) -> std::io::Result<()> {
    /// runner.run_until_signal(std::time::Duration::from_secs(30)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed; the runner is shut down before the error
    /// is returned.
    pub fn run_until_signal(
        self,
        grace: Duration,
    ) -> impl Future<Output = std::io::Result<ShutdownReport>> + Send + 'static {
        let signal = shutdown_signal();
        async move {
            match signal {
                Ok(signal) => Ok(self.run_until(signal, grace).await),
                Err(error) => {
                    self.shutdown(grace).await;
                    Err(error)
                }
            }
        }
    }
}

/// Installs the Ctrl-C (SIGINT) and, on Unix, SIGTERM handlers now and returns a future that
/// completes when either signal arrives. Must be called inside a tokio runtime.
///
/// Use it to stop other parts of your program on the same signals as
/// [`Runner::run_until_signal`], or with [`Runner::run_until`].
///
/// # Errors
///
/// When a handler cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received");
            }
        })
    }
}
