//! Parameters and results of cancelling and retrying jobs one at a time or by filter.

use backlog_types::{JobId, JobRow, JobState};
use chrono::{DateTime, Utc};

use crate::{Error, ErrorKind};

/// Parameters of [`Storage::job_cancel`](crate::Storage::job_cancel).
#[derive(Debug, Clone)]
pub struct JobCancelParams {
    /// The job.
    pub id: JobId,
    /// Cancel only if the job is of this kind. Checked in the same statement as the cancel, so
    /// a job of another kind is never touched.
    pub kind: Option<String>,
    /// What to do if the job is running: `true` records a cancellation request
    /// (`cancel_requested_at`) and tells the worker holding it; `false` leaves it alone.
    pub request_running: bool,
}

/// What [`Storage::job_cancel`](crate::Storage::job_cancel) did. Every variant but `NotFound`
/// carries the job as it was before the call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobCancelResult {
    /// The job had not started; it is now `cancelled`.
    Cancelled(JobRow),
    /// The job is running; cancellation was requested and its worker told.
    CancelRequested(JobRow),
    /// The job is running and `request_running` was false: nothing changed.
    Running(JobRow),
    /// The job already reached a final state: nothing changed.
    Finalized(JobRow),
    /// The job is of another kind than asked: nothing changed.
    WrongKind(JobRow),
    /// No job has this id.
    NotFound,
}

impl JobCancelResult {
    /// Classifies a cancel from the job as it was before the call (`job`), whether the call
    /// changed it, and the kind asked for. For backends.
    pub fn classify(job: JobRow, changed: bool, kind: Option<&str>) -> JobCancelResult {
        if kind.is_some_and(|kind| kind != job.kind) {
            JobCancelResult::WrongKind(job)
        } else if job.state == JobState::Running {
            if changed {
                JobCancelResult::CancelRequested(job)
            } else {
                JobCancelResult::Running(job)
            }
        } else if changed {
            JobCancelResult::Cancelled(job)
        } else {
            JobCancelResult::Finalized(job)
        }
    }
}

/// Which jobs a bulk operation applies to. Every criterion given must match; at least one must be
/// given (an empty filter is refused rather than taken to mean every job).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only these jobs (any when empty).
    pub ids: Vec<JobId>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs in these states (the operation's default states when empty; states the
    /// operation cannot apply to are ignored).
    pub states: Vec<JobState>,
}

impl JobFilter {
    /// Whether no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.queue.is_none() && self.kind.is_none() && self.states.is_empty()
    }

    /// Refuses an empty filter, so that a forgotten argument never cancels or retries every job.
    pub fn check(&self) -> Result<(), Error> {
        if self.is_empty() {
            Err(Error::new(
                ErrorKind::InvalidInput,
                "a job filter needs at least one of ids, queue, kind or states",
            ))
        } else {
            Ok(())
        }
    }

    /// The states (among `allowed`) the filter selects: all of `allowed` when none are given.
    pub fn states_among(&self, allowed: &[JobState]) -> Vec<JobState> {
        if self.states.is_empty() {
            allowed.to_vec()
        } else {
            allowed
                .iter()
                .copied()
                .filter(|s| self.states.contains(s))
                .collect()
        }
    }
}

/// The states [`Storage::job_cancel_by_filter`](crate::Storage::job_cancel_by_filter) applies
/// to: the three waiting states are cancelled, running jobs get a cancellation request.
pub const CANCELLABLE_STATES: [JobState; 4] = [
    JobState::Available,
    JobState::Scheduled,
    JobState::Running,
    JobState::Retryable,
];

/// The states [`Storage::job_retry_by_filter`](crate::Storage::job_retry_by_filter) applies to.
pub const RETRYABLE_STATES: [JobState; 5] = [
    JobState::Scheduled,
    JobState::Retryable,
    JobState::Completed,
    JobState::Cancelled,
    JobState::Discarded,
];

/// The states [`Storage::job_delete_by_filter`](crate::Storage::job_delete_by_filter) applies
/// to: every state but `running` (cancel a running job first).
pub const DELETABLE_STATES: [JobState; 6] = [
    JobState::Available,
    JobState::Scheduled,
    JobState::Retryable,
    JobState::Completed,
    JobState::Cancelled,
    JobState::Discarded,
];

/// The states of a job that has not started (or is waiting to run again).
pub const WAITING_STATES: [JobState; 3] = [
    JobState::Available,
    JobState::Scheduled,
    JobState::Retryable,
];

/// The states
/// [`Storage::job_reschedule_by_filter`](crate::Storage::job_reschedule_by_filter) applies to:
/// the waiting ones.
pub const RESCHEDULABLE_STATES: [JobState; 3] = WAITING_STATES;

/// Parameters of
/// [`Storage::job_reschedule_by_filter`](crate::Storage::job_reschedule_by_filter): which waiting
/// jobs, and what changes (at least one of `run_at`, `priority`, `queue`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRescheduleParams {
    /// Which jobs (only waiting ones are changed).
    pub filter: JobFilter,
    /// The new run time: in the future the job waits (`scheduled`, or stays `retryable`); now
    /// or past, it is `available` at once. `None` keeps it.
    pub run_at: Option<DateTime<Utc>>,
    /// The new priority (`None` keeps it).
    pub priority: Option<i16>,
    /// The new queue, already validated (`None` keeps it).
    pub queue: Option<String>,
}

impl JobRescheduleParams {
    /// Refuses an empty filter and a change of nothing.
    pub fn check(&self) -> Result<(), Error> {
        self.filter.check()?;
        if self.run_at.is_none() && self.priority.is_none() && self.queue.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a reschedule needs at least one of a run time, a priority or a queue",
            ));
        }
        Ok(())
    }
}

/// Result of [`Storage::job_cancel_by_filter`](crate::Storage::job_cancel_by_filter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCancelManyResult {
    /// Jobs that had not started and are now `cancelled`, ascending.
    pub cancelled: Vec<JobId>,
    /// Running jobs whose cancellation was requested, ascending.
    pub cancel_requested: Vec<JobId>,
}
