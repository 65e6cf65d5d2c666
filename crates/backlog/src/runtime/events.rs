//! What a runner reports about the jobs it ran: per-attempt events and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backlog_types::{JobId, JobState};

/// The recorded outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// The attempt that ended.
    pub attempt: i32,
    /// The state the job moved to, or `None` if the write was fenced off because this worker no
    /// longer held the job (its lease expired and it was rescued, or it was cancelled).
    pub state: Option<JobState>,
    /// The error message, for failed attempts.
    pub error: Option<String>,
    /// How long the attempt ran.
    pub duration: Duration,
}

/// Counters of a runner, updated as outcomes are written.
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub(crate) fetched: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) snoozed: AtomicU64,
    pub(crate) fenced: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
}

/// A copy of [`RunnerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Jobs claimed.
    pub fetched: u64,
    /// Attempts that completed their job.
    pub completed: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Attempts that discarded their job.
    pub discarded: u64,
    /// Attempts that cancelled their job.
    pub cancelled: u64,
    /// Attempts that snoozed.
    pub snoozed: u64,
    /// Outcomes rejected because the job was no longer held.
    pub fenced: u64,
    /// Running jobs a heartbeat found taken from this process (rescued, or claimed by another
    /// execution) and stopped. A job whose own outcome was recorded first is not counted.
    pub leases_lost: u64,
}

impl StatsSnapshot {
    /// Attempts whose outcome has been written (whatever it was).
    pub fn finished(&self) -> u64 {
        self.completed + self.retried + self.discarded + self.cancelled + self.snoozed + self.fenced
    }
}

impl RunnerStats {
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            fetched: get(&self.fetched),
            completed: get(&self.completed),
            retried: get(&self.retried),
            discarded: get(&self.discarded),
            cancelled: get(&self.cancelled),
            snoozed: get(&self.snoozed),
            fenced: get(&self.fenced),
            leases_lost: get(&self.leases_lost),
        }
    }

    pub(crate) fn record(&self, state: Option<JobState>) {
        let counter = match state {
            Some(JobState::Completed) => &self.completed,
            Some(JobState::Retryable) => &self.retried,
            Some(JobState::Discarded) => &self.discarded,
            Some(JobState::Cancelled) => &self.cancelled,
            Some(JobState::Scheduled) => &self.snoozed,
            _ => &self.fenced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
