//! [`Client`] methods that count jobs: how much work is still to be done.

use std::collections::BTreeMap;

use backlog_types::JobState;

use crate::{Client, Error};

/// Jobs that are not finished yet (`available`, `scheduled`, `retryable`, `running`, and any
/// other state that is not final), in total and per queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnfinishedCounts {
    /// Unfinished jobs across every queue.
    pub total: u64,
    /// Unfinished jobs per queue; queues with none are absent.
    pub by_queue: BTreeMap<String, u64>,
}

impl UnfinishedCounts {
    /// Unfinished jobs in `queue` (0 for a queue with none or that does not exist).
    pub fn queue(&self, queue: &str) -> u64 {
        self.by_queue.get(queue).copied().unwrap_or(0)
    }
}

impl Client {
    /// How many jobs are not finished yet, in total and per queue. A job is unfinished while
    /// its state is not final (see [`JobState::is_finalized`]): waiting, scheduled, retryable
    /// or running.
    ///
    /// ```
    /// # async fn demo(client: backlog::Client) -> Result<(), backlog::Error> {
    /// let counts = client.unfinished_counts().await?;
    /// println!("{} jobs to go, {} in `default`", counts.total, counts.queue("default"));
    /// # Ok(()) }
    /// ```
    pub async fn unfinished_counts(&self) -> Result<UnfinishedCounts, Error> {
        let rows = self.storage().job_count_by_state().await?;
        let mut counts = UnfinishedCounts::default();
        for row in rows {
            if is_unfinished(row.state) && row.count > 0 {
                counts.total += row.count;
                *counts.by_queue.entry(row.queue).or_default() += row.count;
            }
        }
        Ok(counts)
    }
}

fn is_unfinished(state: JobState) -> bool {
    !state.is_finalized()
}
