//! Running a registered [`Worker`](crate::Worker) for a job that a server ordered over the
//! wire — the seam the remote-worker crate (`backlog-remote`) is built on.
//!
//! In process, the [`Runner`](crate::Runner) claims a job, runs its worker and writes the
//! outcome to the database. A remote worker receives the job as an order from `backlog serve`
//! instead, and sends the outcome back. [`Workers::run_remote`] is the part both share: it
//! decodes the args into the worker's type, builds the [`Job`](crate::Job), runs `work` with
//! the worker's timeout, catches a panic, and turns what happened into a [`RemoteOutcome`]
//! with the same decisions the runner makes (the worker's backoff, the last attempt, a
//! cancellation request). [`Job::set_result`](crate::Job::set_result) is kept for the outcome;
//! [`Job::set_progress`](crate::Job::set_progress) goes to a [`ProgressSink`].
//!
//! ```
//! use std::sync::Arc;
//! use backlog::remote::{RemoteOrder, RemoteOutcome};
//! use backlog::{Job, JobArgs, JobError, Worker, Workers};
//! use tokio_util::sync::CancellationToken;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Double { n: u64 }
//! impl JobArgs for Double { const KIND: &'static str = "double"; }
//!
//! struct Doubler;
//! impl Worker for Doubler {
//!     type Args = Double;
//!     async fn work(&self, job: Job<Double>) -> Result<(), JobError> {
//!         job.set_result(job.args.n * 2)?;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let workers = Workers::new().register(Doubler);
//! let order = RemoteOrder::new(7, "double", serde_json::json!({"n": 21}));
//! let outcome = workers
//!     .run_remote(order, CancellationToken::new(), Arc::new(|_progress| {}))
//!     .await;
//! assert_eq!(outcome, RemoteOutcome::Completed { result: Some(serde_json::json!(42)) });
//! # });
//! ```

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backlog_types::{JobId, JobRow, JobState, LeaseToken};
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::context::{JobContext, RemoteInner};
use crate::worker::ErrorAction;
use crate::Backoff;
use crate::Workers;

/// Where [`Job::set_progress`](crate::Job::set_progress) values go for a remote job (the
/// caller sends them, throttled as it sees fit).
pub type ProgressSink = Arc<dyn Fn(serde_json::Value) + Send + Sync>;

/// One execution of a job, as a server's order describes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteOrder {
    /// The job.
    pub id: JobId,
    /// Its kind: picks the worker.
    pub kind: String,
    /// Its args, decoded into the worker's type.
    pub args: serde_json::Value,
    /// Its queue.
    pub queue: String,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Its priority.
    pub priority: i16,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Tags given at enqueue.
    pub tags: Vec<String>,
    /// Metadata given at enqueue.
    pub metadata: serde_json::Value,
    /// The execution's lease token.
    pub lease_token: Option<LeaseToken>,
    /// The job's own timeout, if the order carries one (else the worker's).
    pub timeout: Option<Duration>,
    /// Largest result accepted by [`Job::set_result`](crate::Job::set_result).
    pub max_result_bytes: usize,
}

impl RemoteOrder {
    /// An order for attempt 1 of 25 of `kind` with `args` on the default queue; set the other
    /// fields from the server's order.
    pub fn new(id: JobId, kind: impl Into<String>, args: serde_json::Value) -> RemoteOrder {
        RemoteOrder {
            id,
            kind: kind.into(),
            args,
            queue: "default".into(),
            attempt: 1,
            max_attempts: 25,
            priority: 0,
            created_at: Utc::now(),
            tags: Vec::new(),
            metadata: serde_json::Value::Object(Default::default()),
            lease_token: None,
            timeout: None,
            max_result_bytes: 64 * 1024,
        }
    }

    pub(crate) fn row(&self) -> JobRow {
        JobRow {
            id: self.id,
            state: JobState::Running,
            queue: self.queue.clone(),
            kind: self.kind.clone(),
            args: self.args.clone(),
            priority: self.priority,
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            scheduled_at: self.created_at,
            created_at: self.created_at,
            attempted_at: Some(Utc::now()),
            finalized_at: None,
            lease_expires_at: None,
            attempted_by: Vec::new(),
            errors: Vec::new(),
            attempt_durations_us: Vec::new(),
            tags: self.tags.clone(),
            metadata: self.metadata.clone(),
            rescue_count: 0,
            cancel_requested_at: None,
            fingerprint: None,
            result: None,
            progress: None,
            lease_token: self.lease_token,
            timeout_ms: None,
            backoff: None,
            expires_at: None,
            partition_key: None,
        }
    }
}

/// What a failed attempt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteAction {
    /// Run again after the delay (or discard it if that was the last attempt: the server
    /// decides with the job's attempt count).
    Retry,
    /// Fail for good.
    Discard,
    /// Run again after the delay without spending an attempt.
    Snooze,
    /// Stop and mark the job cancelled.
    Cancel,
}

/// How one remote attempt ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RemoteOutcome {
    /// `work` returned `Ok`: the job completed, with the result it set, if any.
    Completed {
        /// What [`Job::set_result`](crate::Job::set_result) stored.
        result: Option<serde_json::Value>,
    },
    /// The attempt failed.
    Failed {
        /// What it asks for.
        action: RemoteAction,
        /// Delay before the next run (retry: the worker's backoff; snooze: the asked delay).
        delay: Option<Duration>,
        /// The error or panic message.
        message: String,
        /// Whether it was a panic.
        panicked: bool,
    },
}

impl Workers {
    /// Runs one attempt of a job ordered by a server with the worker registered for its kind:
    /// decode, `work` under the timeout (the order's, else the worker's), panic capture, and the
    /// outcome the in-process runner would record. `cancellation` fires the job's
    /// [`Job::cancelled`](crate::Job::cancelled); an attempt that did not succeed after it
    /// fired ends [`RemoteAction::Cancel`].
    pub async fn run_remote(
        &self,
        order: RemoteOrder,
        cancellation: CancellationToken,
        progress: ProgressSink,
    ) -> RemoteOutcome {
        let failed = |action, delay, message: String, panicked| RemoteOutcome::Failed {
            action,
            delay,
            message,
            panicked,
        };
        let Some(worker) = self.get(&order.kind) else {
            return failed(
                RemoteAction::Retry,
                None,
                format!(
                    "unknown job kind `{}`: this remote worker has no worker for it (registered: {})",
                    order.kind,
                    self.kinds().join(", ")
                ),
                false,
            );
        };
        let row = order.row();
        let context = JobContext::remote(RemoteInner {
            max_result_bytes: order.max_result_bytes,
            result: Mutex::new(None),
            progress,
        });
        // The job's own token: fired by a cancellation request and by the timeout.
        let job_token = cancellation.child_token();
        let future = match worker.start(&row, job_token.clone(), context.clone()) {
            Ok(future) => future,
            Err(error) => {
                return failed(
                    RemoteAction::Discard,
                    None,
                    format!(
                    "args do not decode as job kind `{}`: {error}; fix the args and retry the job",
                    order.kind
                ),
                    false,
                )
            }
        };
        let timeout = order.timeout.or_else(|| worker.timeout());
        let attempt = AssertUnwindSafe(future).catch_unwind();
        let ended = match timeout {
            None => Some(attempt.await),
            Some(limit) => tokio::time::timeout(limit, attempt).await.ok(),
        };
        // An inherited backoff asks for no delay: the server applies the kind's policy.
        let backoff = match worker.backoff() {
            Backoff::Inherit => None,
            own => Some(own),
        };
        let retry = |message: String, panicked| {
            failed(
                RemoteAction::Retry,
                backoff.as_ref().map(|b| b.delay(order.attempt)),
                message,
                panicked,
            )
        };
        let outcome = match ended {
            None => {
                job_token.cancel();
                retry(
                    format!("timed out after {:?}", timeout.unwrap_or_default()),
                    false,
                )
            }
            Some(Ok(Ok(()))) => {
                return RemoteOutcome::Completed {
                    result: context.finish().await,
                }
            }
            Some(Ok(Err(error))) => match error.action {
                ErrorAction::Retry => retry(error.message, false),
                ErrorAction::Discard => failed(RemoteAction::Discard, None, error.message, false),
                ErrorAction::Cancel => failed(RemoteAction::Cancel, None, error.message, false),
                ErrorAction::Snooze(delay) => {
                    failed(RemoteAction::Snooze, Some(delay), error.message, false)
                }
            },
            Some(Err(panic)) => retry(panic_message(panic), true),
        };
        match outcome {
            RemoteOutcome::Failed {
                action: RemoteAction::Retry | RemoteAction::Snooze,
                message,
                panicked,
                ..
            } if cancellation.is_cancelled() => failed(
                RemoteAction::Cancel,
                None,
                format!("cancelled while running: {message}"),
                panicked,
            ),
            other => other,
        }
    }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked with a non-string payload".to_owned()
    }
}
