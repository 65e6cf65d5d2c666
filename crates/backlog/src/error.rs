//! The library's error types.

use backlog_types::{InvalidName, JobId, JobState};

/// Why a job could not be enqueued. Nothing was inserted when this is returned, except with
/// [`EnqueueError::OutcomeUnknown`], where that is not known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue name breaks the naming rules.
    #[error(transparent)]
    InvalidQueue(InvalidName),
    /// The job kind breaks the naming rules.
    #[error(transparent)]
    InvalidKind(InvalidName),
    /// The arguments could not be serialized to JSON.
    #[error("args of job kind `{kind}` could not be serialized to JSON: {source}")]
    Serialize {
        /// The job kind.
        kind: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// The serialized arguments exceed the client's limit.
    #[error("args of job kind `{kind}` are {size} bytes, over the {limit}-byte limit; store large data elsewhere and pass a reference, or raise ClientConfig::max_args_bytes")]
    ArgsTooLarge {
        /// The job kind.
        kind: String,
        /// Serialized size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// An option is out of range; the message says which and why.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The database refused or could not be reached; see [`backlog_storage::Error::kind`].
    /// Nothing was inserted.
    #[error("could not enqueue: {0}")]
    Storage(backlog_storage::Error),
    /// The connection broke after the insert was sent and before its reply arrived
    /// ([`ErrorKind::OutcomeUnknown`](backlog_storage::ErrorKind::OutcomeUnknown)): the jobs
    /// may or may not have been inserted. Retry with the same
    /// [`InsertOpts::idempotency_key`](crate::InsertOpts::idempotency_key): the retry inserts
    /// the job, or returns the one the first attempt stored.
    #[error("enqueue outcome unknown: the connection broke before the database replied, so the job may or may not have been inserted; retry with the same idempotency key (InsertOpts::idempotency_key, `--idempotency-key`), which returns the first job if it was stored ({0})")]
    OutcomeUnknown(backlog_storage::Error),
}

impl From<backlog_storage::Error> for EnqueueError {
    fn from(error: backlog_storage::Error) -> EnqueueError {
        if error.kind() == backlog_storage::ErrorKind::OutcomeUnknown {
            EnqueueError::OutcomeUnknown(error)
        } else {
            EnqueueError::Storage(error)
        }
    }
}

/// An error from a [`Runner`](crate::Runner) or a [`Client`](crate::Client) call other than
/// enqueue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The runner's configuration is invalid; the message says what to change.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database refused or could not be reached.
    #[error(transparent)]
    Storage(#[from] backlog_storage::Error),
    /// A periodic job schedule is invalid.
    #[error(transparent)]
    Schedule(#[from] crate::cron::ScheduleError),
}

/// Why [`Client::job_cancel`](crate::Client::job_cancel) or
/// [`Client::job_unschedule`](crate::Client::job_unschedule) did not cancel a job. Nothing was
/// changed when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// No job has this id (it may have been deleted by the cleaner).
    #[error("no job with id {0}")]
    NotFound(JobId),
    /// The job already started (unschedule only: use `job_cancel` to stop a running job).
    #[error("job {0} is already running; use job_cancel to request its cancellation")]
    Running(JobId),
    /// The job already reached a final state.
    #[error("job {id} is already {state}")]
    AlreadyFinished {
        /// The job.
        id: JobId,
        /// Its final state.
        state: JobState,
    },
    /// The job is of another kind than the one asked for.
    #[error("job {id} is of kind `{actual}`, not `{expected}`")]
    WrongKind {
        /// The job.
        id: JobId,
        /// The kind asked for.
        expected: String,
        /// The job's kind.
        actual: String,
    },
    /// The job was cancelled, but its args do not decode as the type asked for.
    #[error("job {id} was cancelled, but its args do not decode: {source}")]
    Decode {
        /// The job.
        id: JobId,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// The database refused or could not be reached.
    #[error(transparent)]
    Storage(#[from] backlog_storage::Error),
}

#[cfg(test)]
mod tests {
    use backlog_storage::ErrorKind;

    use super::*;

    #[test]
    fn a_broken_reply_is_an_unknown_outcome_not_a_failure() {
        let lost = backlog_storage::Error::new(ErrorKind::OutcomeUnknown, "connection closed");
        let error = EnqueueError::from(lost);
        assert!(
            matches!(error, EnqueueError::OutcomeUnknown(_)),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .contains("may or may not have been inserted"));
        let refused = backlog_storage::Error::new(ErrorKind::Unavailable, "connection refused");
        assert!(matches!(
            EnqueueError::from(refused),
            EnqueueError::Storage(_)
        ));
    }
}
