//! [`Client::unfinished`]: how many jobs are still to run, per queue and in total.

use std::collections::BTreeMap;

use backlog_types::JobState;

use crate::{Client, Error};

/// Jobs not finished yet (`available`, `scheduled`, `retryable` or `running`), from
/// [`Client::unfinished`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unfinished {
    /// Every unfinished job.
    pub total: u64,
    /// Unfinished jobs per queue; queues with none are absent.
    pub by_queue: BTreeMap<String, u64>,
    /// Unfinished jobs per state; states with none are absent.
    pub by_state: BTreeMap<JobState, u64>,
}

impl Unfinished {
    /// Unfinished jobs in `queue` (0 for an unknown queue).
    pub fn queue(&self, queue: &str) -> u64 {
        self.by_queue.get(queue).copied().unwrap_or(0)
    }

    /// Whether nothing is left to run.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Client {
    /// How many jobs are not finished yet, in total, per queue and per state: one count query
    /// (the same as `backlog jobs count`). Use it to wait for a backlog to empty, or in a
    /// readiness check.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
    /// # impl backlog::JobArgs for Ping { const KIND: &'static str = "ping"; }
    /// let client = backlog::Client::from_arc(backlog::testing::sqlite_storage().await?);
    /// client.enqueue(Ping).await?;
    /// let unfinished = client.unfinished().await?;
    /// assert_eq!(unfinished.total, 1);
    /// assert_eq!(unfinished.queue("default"), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When the storage fails.
    pub async fn unfinished(&self) -> Result<Unfinished, Error> {
        let mut unfinished = Unfinished::default();
        for count in self.storage().job_count_by_state().await? {
            if count.state.is_finalized() || count.count == 0 {
                continue;
            }
            unfinished.total += count.count;
            *unfinished.by_queue.entry(count.queue).or_default() += count.count;
            *unfinished.by_state.entry(count.state).or_default() += count.count;
        }
        Ok(unfinished)
    }
}
