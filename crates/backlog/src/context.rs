//! What a running job can write back: its result (stored with the outcome) and its progress
//! (stored while it runs, throttled).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backlog_storage::{JobProgressSetParams, Storage};
use backlog_types::{JobId, LeaseToken};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Progress is written at most this often per job; values set in between are coalesced (the
/// last one wins) and the latest is always written before the outcome.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Why [`Job::set_result`](crate::Job::set_result) or
/// [`Job::set_progress`](crate::Job::set_progress) refused a value. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobValueError {
    /// The serialized result is larger than the runner's `max_result_bytes`.
    #[error("job result is {size} bytes serialized, over the {max}-byte limit (RunnerConfig::max_result_bytes); store large outputs elsewhere and return a reference")]
    TooLarge {
        /// Serialized size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The value could not be serialized to JSON.
    #[error("job value does not serialize to JSON: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The job was not handed out by a runner (built by hand, e.g. in a unit test), so there is
    /// nowhere to store the value.
    #[error("this job is not attached to a runner: results and progress cannot be stored")]
    Detached,
}

/// A job's link back to the runner that runs it. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct JobContext {
    inner: Option<Arc<Inner>>,
    /// For a job run by a remote worker: results kept here, progress handed to the sink.
    remote: Option<Arc<RemoteInner>>,
}

/// Where a remotely run job's writes go (see [`crate::remote`]).
pub(crate) struct RemoteInner {
    pub(crate) max_result_bytes: usize,
    pub(crate) result: Mutex<Option<serde_json::Value>>,
    pub(crate) progress: crate::remote::ProgressSink,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("attached", &self.inner.is_some())
            .finish()
    }
}

struct Inner {
    storage: Arc<dyn Storage>,
    id: JobId,
    lease_token: LeaseToken,
    max_result_bytes: usize,
    result: Mutex<Option<serde_json::Value>>,
    progress: Mutex<Option<ProgressWriter>>,
}

/// The background writer of one job's progress, started on its first `set_progress`.
struct ProgressWriter {
    latest: watch::Sender<Option<serde_json::Value>>,
    /// Cuts the throttle wait short when the attempt ends.
    finish: CancellationToken,
    task: JoinHandle<()>,
}

impl JobContext {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        id: JobId,
        lease_token: LeaseToken,
        max_result_bytes: usize,
    ) -> JobContext {
        JobContext {
            remote: None,
            inner: Some(Arc::new(Inner {
                storage,
                id,
                lease_token,
                max_result_bytes,
                result: Mutex::new(None),
                progress: Mutex::new(None),
            })),
        }
    }

    /// A context whose writes go to a remote worker's connection.
    pub(crate) fn remote(remote: RemoteInner) -> JobContext {
        JobContext {
            inner: None,
            remote: Some(Arc::new(remote)),
        }
    }

    pub(crate) fn set_result(&self, value: impl Serialize) -> Result<(), JobValueError> {
        let (max, slot) = match (&self.remote, &self.inner) {
            (Some(remote), _) => (remote.max_result_bytes, &remote.result),
            (None, Some(inner)) => (inner.max_result_bytes, &inner.result),
            (None, None) => return Err(JobValueError::Detached),
        };
        let value = serde_json::to_value(value)?;
        let size = serde_json::to_vec(&value)?.len();
        if size > max {
            return Err(JobValueError::TooLarge { size, max });
        }
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        Ok(())
    }

    /// The results of the jobs this one depends on (none for a detached job).
    pub(crate) async fn dependency_results(
        &self,
    ) -> Result<Vec<backlog_storage::DependencyResult>, backlog_storage::Error> {
        match &self.inner {
            Some(inner) => inner.storage.job_dependency_results(inner.id).await,
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn set_progress(&self, value: impl Serialize) -> Result<(), JobValueError> {
        if let Some(remote) = &self.remote {
            (remote.progress)(serde_json::to_value(value)?);
            return Ok(());
        }
        let inner = self.inner.as_ref().ok_or(JobValueError::Detached)?;
        let value = serde_json::to_value(value)?;
        let mut progress = inner
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match progress.as_ref() {
            Some(writer) => {
                writer.latest.send_replace(Some(value));
            }
            None => {
                let (latest, mut rx) = watch::channel(Some(value));
                // The initial value counts as seen; the writer must see it as new.
                rx.mark_changed();
                let finish = CancellationToken::new();
                let task = tokio::spawn(write_progress(inner.clone(), rx, finish.clone()));
                *progress = Some(ProgressWriter {
                    latest,
                    finish,
                    task,
                });
            }
        }
        Ok(())
    }

    /// Ends the attempt's writes: flushes the latest progress (fenced, so it is dropped if the
    /// job is no longer held) and returns the result to store with the outcome.
    pub(crate) async fn finish(&self) -> Option<serde_json::Value> {
        if let Some(remote) = &self.remote {
            return remote
                .result
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
        let inner = self.inner.as_ref()?;
        let writer = inner
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            writer.finish.cancel();
            drop(writer.latest);
            // Bounded: a database that hangs must not hold the outcome back for long.
            if tokio::time::timeout(Duration::from_secs(5), writer.task)
                .await
                .is_err()
            {
                tracing::warn!(job.id = inner.id, "last progress write timed out");
            }
        }
        inner
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Writes the latest progress, then waits [`PROGRESS_INTERVAL`] (or until the attempt ends)
/// before the next write; stops once the sender is dropped and the last value is written.
async fn write_progress(
    inner: Arc<Inner>,
    mut rx: watch::Receiver<Option<serde_json::Value>>,
    finish: CancellationToken,
) {
    // The first value is marked unseen: `changed` returns at once for it. It errs only
    // once the sender is dropped and every value has been seen.
    while rx.changed().await.is_ok() {
        let value = rx.borrow_and_update().clone();
        if let Some(progress) = value {
            let params = JobProgressSetParams {
                id: inner.id,
                lease_token: inner.lease_token,
                progress,
            };
            match inner.storage.job_progress_set(params).await {
                Ok(true) => {}
                Ok(false) => tracing::debug!(
                    job.id = inner.id,
                    "progress not stored: the job is no longer held"
                ),
                Err(error) => tracing::warn!(job.id = inner.id, %error, "could not store progress"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PROGRESS_INTERVAL) => {}
            _ = finish.cancelled() => {}
        }
    }
}
