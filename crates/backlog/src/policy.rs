//! Outcome policy as a value, for kinds that have no Rust type in this process.
//!
//! An in-process [`Worker`](crate::Worker) states its backoff and timeout in code. A job run
//! elsewhere — by a remote worker of the server, in any language — has no Rust type here, so
//! whoever records its outcome needs the same decisions as a plain value: how long a failed
//! attempt waits before the next one, whether it was the last, and how long an attempt may run.
//! A job's own settings (given at enqueue: [`InsertOpts`](crate::InsertOpts)) come first, the
//! kind's policy second.
//!
//! ```
//! use std::time::Duration;
//! use backlog::{Backoff, KindPolicy};
//!
//! let policy = KindPolicy {
//!     backoff: Backoff::Fixed(Duration::from_secs(5)),
//!     timeout: Some(Duration::from_secs(60)),
//! };
//! assert_eq!(policy.backoff.delay(3), Duration::from_secs(5));
//! ```

use std::time::Duration;

use std::any::Any;

use backlog_storage::{Failure, JobOutcome};
use backlog_types::JobRow;

use crate::backoff::StoredBackoff;
use crate::worker::ErrorAction;
use crate::Backoff;

/// The error kinds Backlog records itself in an attempt's error (`AttemptError::kind`); a
/// worker names its own with [`JobError::with_kind`](crate::JobError::with_kind), a remote
/// worker sends its exception class.
pub mod error_kind {
    /// The attempt ran past its timeout.
    pub const TIMEOUT: &str = "timeout";
    /// The job's code panicked.
    pub const PANIC: &str = "panic";
    /// Shutdown or a lost lease stopped the attempt; the job was handed back.
    pub const INTERRUPTED: &str = "interrupted";
    /// Cancellation was requested (before or while it ran).
    pub const CANCELLED: &str = "cancelled";
    /// Claimed after its `expires_at`: discarded without running.
    pub const EXPIRED: &str = "expired";
    /// No worker is registered for the job's kind in the process that claimed it.
    pub const UNKNOWN_KIND: &str = "unknown_kind";
    /// The args do not decode as the kind's type.
    pub const INVALID_ARGS: &str = "invalid_args";
    /// The rescuer found the lease expired (the worker crashed, was killed or lost the database).
    pub const LEASE_EXPIRED: &str = "lease_expired";
    /// Rescued too often: discarded as a poison job.
    pub const POISON: &str = "poison";
}

/// The backoff and timeout of one kind, applied where no [`Worker`](crate::Worker) states them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindPolicy {
    /// Delay before the next attempt after a failure, unless the job or the failure names one.
    pub backoff: Backoff,
    /// Longest an attempt may run, unless the job sets its own. `None`: no limit.
    pub timeout: Option<Duration>,
}

impl KindPolicy {
    /// How long this attempt of `row` may run: the job's own timeout, else the kind's.
    pub fn timeout_of(&self, row: &JobRow) -> Option<Duration> {
        crate::job::timeout_of(row).or(self.timeout)
    }

    /// The delay after `row`'s current attempt fails: the job's own backoff, else the kind's.
    pub fn retry_delay(&self, row: &JobRow) -> Duration {
        match StoredBackoff::of(row) {
            Some(own) => own.delay(row.attempt),
            None => self.backoff.delay(row.attempt),
        }
    }

    /// The outcome of a failed attempt that asked to be retried: `retryable`, or `discarded`
    /// when it was the last attempt. The delay is the job's own backoff (given at enqueue) if it
    /// has one, else `delay` (what the worker's backoff asked for), else the kind's.
    pub fn retry_or_discard(
        &self,
        row: &JobRow,
        failure: Failure,
        delay: Option<Duration>,
    ) -> JobOutcome {
        retry_or_discard(
            row.attempt,
            row.max_attempts,
            failure,
            || match StoredBackoff::of(row) {
                Some(own) => own.delay(row.attempt),
                None => delay.unwrap_or_else(|| self.backoff.delay(row.attempt)),
            },
        )
    }
}

/// The outcome of a job claimed after its expiry time ([`InsertOpts::expires_at`]): it is
/// `discarded` with the error kind `expired` instead of run. `None` for a job that has not
/// expired (or never does). The claim's time (`attempted_at`, the database's clock) decides.
///
/// [`InsertOpts::expires_at`]: crate::InsertOpts::expires_at
pub fn expired(row: &JobRow) -> Option<JobOutcome> {
    let expires_at = row.expires_at?;
    let claimed_at = row.attempted_at.unwrap_or_else(chrono::Utc::now);
    (claimed_at > expires_at).then(|| JobOutcome::Discard {
        failure: Failure::error(format!(
            "expired: not started by {} (claimed at {}); discarded instead of running late",
            expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            claimed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ))
        .with_kind(error_kind::EXPIRED),
    })
}

/// `retryable` after `delay()`, or `discarded` when `attempt` was the last of `max_attempts`.
pub fn retry_or_discard(
    attempt: i32,
    max_attempts: i32,
    failure: Failure,
    delay: impl FnOnce() -> Duration,
) -> JobOutcome {
    if attempt >= max_attempts {
        JobOutcome::Discard { failure }
    } else {
        JobOutcome::Retry {
            failure,
            delay: delay(),
        }
    }
}

/// How an attempt ended, before it is mapped to a stored outcome.
pub(crate) enum Ended {
    Ok,
    Failed(crate::JobError),
    Panicked(String),
    TimedOut(Duration),
    Interrupted,
    /// Cancellation was requested and the attempt failed or ignored it: `cancelled`.
    Cancelled(String),
}

/// The stored outcome of an attempt that ended as `ended`; `backoff` is the job's or its
/// worker's.
pub(crate) fn outcome(row: &JobRow, ended: Ended, backoff: &Backoff) -> JobOutcome {
    match ended {
        Ended::Ok => JobOutcome::Completed,
        Ended::Failed(error) => match error.action {
            ErrorAction::Retry => retry_or_discard_row(row, error.failure(), backoff),
            ErrorAction::Discard => JobOutcome::Discard {
                failure: error.failure(),
            },
            ErrorAction::Cancel => JobOutcome::Cancel {
                failure: error.failure(),
            },
            ErrorAction::Snooze(delay) => JobOutcome::Snooze { delay },
        },
        Ended::Panicked(message) => retry_or_discard_row(
            row,
            Failure::panic(format!("panicked: {message}")).with_kind(error_kind::PANIC),
            backoff,
        ),
        Ended::TimedOut(limit) => retry_or_discard_row(
            row,
            Failure::error(format!("timed out after {limit:?}")).with_kind(error_kind::TIMEOUT),
            backoff,
        ),
        Ended::Interrupted => JobOutcome::Retry {
            failure: Failure::error(
                "interrupted: the worker shut down or lost the job's lease before it finished",
            )
            .with_kind(error_kind::INTERRUPTED),
            delay: Duration::ZERO,
        },
        Ended::Cancelled(message) => JobOutcome::Cancel {
            failure: Failure::error(message).with_kind(error_kind::CANCELLED),
        },
    }
}

pub(crate) fn retry_or_discard_row(
    row: &JobRow,
    failure: Failure,
    backoff: &Backoff,
) -> JobOutcome {
    retry_or_discard(row.attempt, row.max_attempts, failure, || {
        backoff.delay(row.attempt)
    })
}

/// A panic's message, from its payload.
pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
