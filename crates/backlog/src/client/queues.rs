//! [`Client`] methods for queues: pause, resume, limits, listing.

use backlog_storage::{QueueInfo, QueuePauseParams, QueueUpdateParams};
use backlog_types::QueueName;

use crate::{Client, Error};

fn validated(queue: &str) -> Result<String, Error> {
    QueueName::new(queue)
        .map(|q| q.as_str().to_owned())
        .map_err(|e| Error::Config(e.to_string()))
}

impl Client {
    /// Pauses a queue on every worker sharing the database: their fetches return nothing for
    /// it from the next fetch on (within a second). Running jobs finish normally. Pausing a
    /// paused queue does nothing.
    pub async fn queue_pause(&self, queue: &str) -> Result<(), Error> {
        let queue = validated(queue)?;
        Ok(self
            .storage()
            .queue_pause(QueuePauseParams { queue, now: None })
            .await?)
    }

    /// Resumes a paused queue and wakes its workers; returns whether it was paused.
    pub async fn queue_resume(&self, queue: &str) -> Result<bool, Error> {
        let queue = validated(queue)?;
        Ok(self
            .storage()
            .queue_resume(QueuePauseParams { queue, now: None })
            .await?)
    }

    /// Changes a queue's cluster-wide limits (`max_running`, rate limit); fields left `None`
    /// are unchanged. Returns the queue's settings and counts.
    pub async fn queue_update(&self, mut params: QueueUpdateParams) -> Result<QueueInfo, Error> {
        params.queue = validated(&params.queue)?;
        if let Some(Some(rate)) = params.rate_limit {
            if rate.max == 0 || rate.period.is_zero() {
                return Err(Error::Config(
                    "a rate limit needs at least 1 start per period and a period above zero".into(),
                ));
            }
        }
        Ok(self.storage().queue_update(params).await?)
    }

    /// One queue's settings and job counts per state; `None` if it has neither.
    pub async fn queue_get(&self, queue: &str) -> Result<Option<QueueInfo>, Error> {
        Ok(self.storage().queue_get(queue).await?)
    }

    /// Every queue with settings or jobs, by name.
    pub async fn queue_list(&self) -> Result<Vec<QueueInfo>, Error> {
        Ok(self.storage().queue_list().await?)
    }
}
