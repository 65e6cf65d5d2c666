//! The [`Worker`] trait users implement, and the outcomes a job can choose.

use std::future::Future;
use std::time::Duration;

use backlog_storage::{Failure, RateLimit};

use crate::{Backoff, Job, JobArgs};

/// Runs jobs of one kind. A worker is shared by all of its kind's concurrent jobs, so it can
/// hold a connection pool, an HTTP client or any other state (behind `&self`).
///
/// ```
/// use backlog::{Job, JobArgs, JobError, Worker};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendEmail { to: String }
/// impl JobArgs for SendEmail { const KIND: &'static str = "send_email"; }
///
/// struct Mailer { from: String }
///
/// impl Worker for Mailer {
///     type Args = SendEmail;
///
///     async fn work(&self, job: Job<SendEmail>) -> Result<(), JobError> {
///         if job.args.to.is_empty() {
///             // Retrying will not help: discard now, keeping the reason.
///             return Err(JobError::discard("no recipient"));
///         }
///         println!("{} -> {}", self.from, job.args.to);
///         Ok(())
///     }
/// }
/// ```
pub trait Worker: Send + Sync + 'static {
    /// The job arguments this worker runs; their [`JobArgs::KIND`] routes jobs here.
    type Args: JobArgs;

    /// Runs one attempt. `Ok(())` completes the job; an error retries it with backoff until
    /// its attempts are used up, unless the error chooses another outcome (see [`JobError`]).
    /// A panic is caught and recorded as a failed attempt.
    fn work(&self, job: Job<Self::Args>) -> impl Future<Output = Result<(), JobError>> + Send;

    /// The backoff between retries of this kind (a per-job backoff given at enqueue wins). The
    /// default, [`Backoff::Inherit`], takes the queue's backoff, else the runner's.
    fn backoff(&self) -> Backoff {
        Backoff::Inherit
    }

    /// How long one attempt may run before it is stopped and counted as failed.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Most jobs of this kind running at once in one runner (process), whatever their queues.
    /// A fetched job whose kind is at its limit hands its queue slot back and waits for a
    /// kind permit, so other kinds keep running; when as many jobs of the kind are already
    /// waiting as the limit allows to run, it is snoozed back to the queue (1 s, no attempt
    /// spent) instead, so that one busy kind cannot hoard claimed jobs. Default: no limit.
    fn max_concurrent(&self) -> Option<usize> {
        None
    }

    /// Most jobs of this kind started per period across every process sharing the database
    /// (a token bucket `kind:<kind>` in the database). Checked when a job starts: a job over
    /// the limit is snoozed until the next token, without spending an attempt. Each start of
    /// a rate-limited kind costs one extra database round trip. Default: no limit.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
}

/// Why an attempt did not succeed, and what should happen next.
///
/// Any error converts into a retryable `JobError` with `?`; the constructors choose other
/// outcomes.
#[derive(Debug)]
pub struct JobError {
    pub(crate) action: ErrorAction,
    pub(crate) message: String,
    pub(crate) kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorAction {
    Retry,
    Discard,
    Cancel,
    Snooze(Duration),
}

impl JobError {
    /// Fail this attempt; retry with backoff (or discard when attempts are used up).
    pub fn retry(message: impl std::fmt::Display) -> JobError {
        JobError {
            action: ErrorAction::Retry,
            message: message.to_string(),
            kind: None,
        }
    }

    /// Fail for good now, whatever attempts remain: the job is `discarded` (dead letter).
    pub fn discard(message: impl std::fmt::Display) -> JobError {
        JobError {
            action: ErrorAction::Discard,
            message: message.to_string(),
            kind: None,
        }
    }

    /// Stop and mark the job `cancelled`.
    pub fn cancel(message: impl std::fmt::Display) -> JobError {
        JobError {
            action: ErrorAction::Cancel,
            message: message.to_string(),
            kind: None,
        }
    }

    /// Run again after `delay` without spending an attempt (waiting on a rate limit, a
    /// resource that is not ready yet...).
    pub fn snooze(delay: Duration) -> JobError {
        JobError {
            action: ErrorAction::Snooze(delay),
            message: String::new(),
            kind: None,
        }
    }

    /// Names the error's type (`"PaymentDeclined"`, `"reqwest::Error"`): stored apart from the
    /// message in the attempt's error record, shown by the dashboard and `backlog jobs get`,
    /// so failures can be grouped by kind.
    pub fn with_kind(mut self, kind: impl Into<String>) -> JobError {
        self.kind = Some(kind.into());
        self
    }

    /// The message recorded with the attempt.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error's type, if [`JobError::with_kind`] named one.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// The failure stored for this error.
    pub(crate) fn failure(self) -> Failure {
        Failure {
            kind: self.kind,
            ..Failure::error(self.message)
        }
    }
}

impl<E> From<E> for JobError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn from(error: E) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        JobError {
            action: ErrorAction::Retry,
            message,
            kind: None,
        }
    }
}
