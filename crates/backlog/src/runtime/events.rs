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
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            fetched: self.fetched.saturating_sub(earlier.fetched),
            completed: self.completed.saturating_sub(earlier.completed),
            retried: self.retried.saturating_sub(earlier.retried),
            discarded: self.discarded.saturating_sub(earlier.discarded),
            cancelled: self.cancelled.saturating_sub(earlier.cancelled),
            snoozed: self.snoozed.saturating_sub(earlier.snoozed),
            fenced: self.fenced.saturating_sub(earlier.fenced),
            leases_lost: self.leases_lost.saturating_sub(earlier.leases_lost),
        }
    }

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

/// What [`Runner::shutdown`](crate::Runner::shutdown) did with the jobs this process held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The outcomes recorded while stopping, by kind: jobs that finished on their own within
    /// the grace period (`completed`, `retried`, ...), plus the hand-backs below.
    pub recorded: StatsSnapshot,
    /// Jobs still running at the end of the grace period: interrupted and handed back as
    /// `retryable` (the attempt is recorded as interrupted). Ascending.
    pub interrupted: Vec<JobId>,
    /// Jobs given back without starting, keeping their place in the run order: claimed ahead
    /// of a free slot, or waiting for their kind's limit. Ascending.
    pub handed_back: Vec<JobId>,
    /// Jobs whose outcome could not be written (the database was unreachable): they stay
    /// `running` and are rescued when their leases expire. Ascending.
    pub unrecorded: Vec<JobId>,
}

impl ShutdownReport {
    /// Whether every job held was either finished or handed back, with its outcome written.
    pub fn is_clean(&self) -> bool {
        self.unrecorded.is_empty()
    }
}
