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

use backlog_storage::{Failure, JobOutcome};
use backlog_types::JobRow;

use crate::backoff::StoredBackoff;
use crate::Backoff;

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
        crate::job::timeout_from_metadata(&row.metadata).or(self.timeout)
    }

    /// The delay after `row`'s current attempt fails: the job's own backoff, else the kind's.
    pub fn retry_delay(&self, row: &JobRow) -> Duration {
        match StoredBackoff::from_metadata(&row.metadata) {
            Some(own) => own.delay(row.attempt),
            None => self.backoff.delay(row.attempt),
        }
    }

    /// The outcome of a failed attempt that asked to be retried: `retryable` after `delay`
    /// (or [`KindPolicy::retry_delay`]), or `discarded` when it was the last attempt.
    pub fn retry_or_discard(
        &self,
        row: &JobRow,
        failure: Failure,
        delay: Option<Duration>,
    ) -> JobOutcome {
        retry_or_discard(row.attempt, row.max_attempts, failure, || {
            delay.unwrap_or_else(|| self.retry_delay(row))
        })
    }
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
