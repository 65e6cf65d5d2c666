use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its lifecycle. See `docs/state_machine.md` for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Ready to run now; a worker may fetch it.
    Available,
    /// Waiting for its `scheduled_at` time before it becomes available.
    Scheduled,
    /// Held by a worker under a lease.
    Running,
    /// Failed an attempt; waits for its backoff before it becomes available again.
    Retryable,
    /// Finished successfully. Final.
    Completed,
    /// Cancelled by a user or by its own code. Final.
    Cancelled,
    /// Gave up: attempts exhausted, or discarded on purpose. The dead-letter state: the job keeps
    /// its history and can be retried by hand.
    Discarded,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 7] = [
        JobState::Available,
        JobState::Scheduled,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Cancelled,
        JobState::Discarded,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Discarded => "discarded",
        }
    }

    /// This state's bit in a state bitmask: bit `i` is the `i`-th state of [`JobState::ALL`].
    /// Stored in `unique_states`, where the database checks a row's state against it.
    pub fn bit(self) -> i16 {
        1 << (self as i16)
    }

    /// The bitmask of several states (see [`JobState::bit`]).
    pub fn mask(states: &[JobState]) -> i16 {
        states.iter().fold(0, |mask, state| mask | state.bit())
    }

    /// Whether the job is finished for good (completed, cancelled or discarded).
    pub fn is_finalized(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Cancelled | JobState::Discarded
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`JobState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state `{0}`: expected one of available, scheduled, running, retryable, completed, cancelled, discarded")]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        assert!("done".parse::<JobState>().is_err());
    }

    #[test]
    fn bits_follow_all_order() {
        for (i, state) in JobState::ALL.into_iter().enumerate() {
            assert_eq!(state.bit(), 1 << i);
        }
        assert_eq!(
            JobState::mask(&[JobState::Available, JobState::Running]),
            0b101
        );
    }

    #[test]
    fn finalized_states() {
        let finalized: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_finalized())
            .collect();
        assert_eq!(
            finalized,
            [
                JobState::Completed,
                JobState::Cancelled,
                JobState::Discarded
            ]
        );
    }
}
