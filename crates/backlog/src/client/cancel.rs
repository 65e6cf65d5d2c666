//! Cancelling and retrying through the [`Client`]: one job (typed or not), or many by filter.

use backlog_storage::{JobCancelManyResult, JobCancelParams, JobCancelResult, JobFilter};
use backlog_types::{JobId, JobRow, Priority, QueueName};

use super::Client;
use crate::{CancelError, Error, JobArgs};

impl Client {
    /// Cancels one job. A job that has not started becomes `cancelled`; for a running job,
    /// cancellation is requested: the worker holding it is told at once (its
    /// [`Job::cancelled`](crate::Job::cancelled) fires) and the attempt ends `cancelled` unless
    /// the job completes first.
    ///
    /// # Errors
    ///
    /// [`CancelError::NotFound`], [`CancelError::AlreadyFinished`] or
    /// [`CancelError::Storage`]; nothing changed then.
    pub async fn job_cancel(&self, id: JobId) -> Result<(), CancelError> {
        let result = self
            .storage
            .job_cancel(JobCancelParams {
                id,
                kind: None,
                request_running: true,
            })
            .await?;
        match result {
            JobCancelResult::Cancelled(_) | JobCancelResult::CancelRequested(_) => Ok(()),
            other => Err(refusal(id, other, None)),
        }
    }

    /// Cancels a job of kind `A` that has not started yet and returns its args, like
    /// Aide-De-Camp's `unschedule_job`: to take work back, or to re-enqueue it changed.
    ///
    /// The kind is checked in the same statement as the cancel: a job of another kind is left
    /// untouched.
    ///
    /// ```no_run
    /// # async fn example(client: backlog::Client, id: backlog::JobId) -> Result<(), backlog::CancelError> {
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Reminder { at: String }
    /// # impl backlog::JobArgs for Reminder { const KIND: &'static str = "reminder"; }
    /// let reminder: Reminder = client.job_unschedule::<Reminder>(id).await?;
    /// # let _ = reminder; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CancelError::WrongKind`], [`CancelError::Running`] (it started: use
    /// [`Client::job_cancel`]), [`CancelError::AlreadyFinished`], [`CancelError::NotFound`]:
    /// nothing changed. [`CancelError::Decode`]: the job was cancelled but its args do not
    /// decode as `A`.
    pub async fn job_unschedule<A: JobArgs>(&self, id: JobId) -> Result<A, CancelError> {
        let result = self
            .storage
            .job_cancel(JobCancelParams {
                id,
                kind: Some(A::KIND.to_owned()),
                request_running: false,
            })
            .await?;
        match result {
            JobCancelResult::Cancelled(row) => serde_json::from_value(row.args)
                .map_err(|source| CancelError::Decode { id, source }),
            other => Err(refusal(id, other, Some(A::KIND))),
        }
    }

    /// Cancels the waiting jobs matching `filter` and requests cancellation of the running
    /// ones, in one transaction. At least one criterion must be set.
    pub async fn job_cancel_by_filter(
        &self,
        filter: JobFilter,
    ) -> Result<JobCancelManyResult, Error> {
        Ok(self.storage.job_cancel_by_filter(filter).await?)
    }

    /// Runs the jobs matching `filter` again now (by default those scheduled, retryable or
    /// finished; a discarded job gets one more attempt); returns the ids retried. At least one
    /// criterion must be set.
    pub async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        Ok(self.storage.job_retry_by_filter(filter).await?)
    }

    /// Deletes for good the jobs matching `filter` that are not running (by default in any
    /// other state), except jobs of a workflow or batch (cancel those); returns the ids
    /// deleted. Clear a queue with `JobFilter { queue: Some(..), ..Default::default() }`. At
    /// least one criterion must be set.
    pub async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        Ok(self.storage.job_delete_by_filter(filter).await?)
    }

    /// Moves the waiting jobs matching `filter` to a new run time, priority and/or queue
    /// (a new queue name is validated first); returns the ids changed.
    pub async fn job_reschedule_by_filter(
        &self,
        filter: JobFilter,
        change: Reschedule,
    ) -> Result<Vec<JobId>, Error> {
        let queue = change
            .queue
            .map(|q| {
                QueueName::new(q)
                    .map(|q| q.as_str().to_owned())
                    .map_err(|e| {
                        backlog_storage::Error::new(
                            backlog_storage::ErrorKind::InvalidInput,
                            e.to_string(),
                        )
                    })
            })
            .transpose()?;
        let params = backlog_storage::JobRescheduleParams {
            filter,
            run_at: change.run_at,
            priority: change.priority.map(|p| p.0),
            queue,
        };
        Ok(self.storage.job_reschedule_by_filter(params).await?)
    }
}

/// What [`Client::job_reschedule_by_filter`] changes; unset fields are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reschedule {
    /// The new run time (now or past: available at once).
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The new priority.
    pub priority: Option<Priority>,
    /// The new queue.
    pub queue: Option<String>,
}

/// The error for a cancel that changed nothing.
fn refusal(id: JobId, result: JobCancelResult, expected: Option<&str>) -> CancelError {
    let wrong_kind = |row: JobRow| CancelError::WrongKind {
        id,
        expected: expected.unwrap_or_default().to_owned(),
        actual: row.kind,
    };
    match result {
        JobCancelResult::WrongKind(row) => wrong_kind(row),
        JobCancelResult::Running(_) | JobCancelResult::CancelRequested(_) => {
            CancelError::Running(id)
        }
        JobCancelResult::Finalized(row) => CancelError::AlreadyFinished {
            id,
            state: row.state,
        },
        // Cancelled is success for both callers; NotFound and any later variant read as absent.
        _ => CancelError::NotFound(id),
    }
}
