//! What every handler shares: the client, the options, and the cached scans.

use std::sync::Arc;

use backlog::Client;
use backlog_storage::{JobThroughputParams, QueueInfo, StateCount, ThroughputBucket};
use backlog_types::JobRow;
use chrono::{DateTime, Utc};

use crate::cache::Cached;
use crate::{ApiError, WebOptions};

/// Shared state of the router.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) client: Client,
    pub(crate) options: Arc<WebOptions>,
    /// The normalized mount prefix, for links.
    pub(crate) base: Arc<str>,
    counts: Cached<Vec<StateCount>>,
    unfinished: Cached<Vec<StateCount>>,
    queues: Cached<Vec<QueueInfo>>,
    history_hour: Cached<Vec<ThroughputBucket>>,
    history_day: Cached<Vec<ThroughputBucket>>,
}

impl AppState {
    pub(crate) fn new(client: Client, options: WebOptions, base: String) -> AppState {
        AppState {
            client,
            options: Arc::new(options),
            base: base.into(),
            counts: Cached::default(),
            unfinished: Cached::default(),
            queues: Cached::default(),
            history_hour: Cached::default(),
            history_day: Cached::default(),
        }
    }

    /// Jobs per queue and state (cached, see [`crate::cache`]).
    pub(crate) async fn counts(&self) -> Result<Vec<StateCount>, ApiError> {
        let storage = self.client.storage().clone();
        self.counts
            .get(self.options.count_cache, move || async move {
                Ok(storage.job_count_by_state().await?)
            })
            .await
    }

    /// Jobs per queue of the unfinished states (cached): read through the partial indexes, so
    /// a scrape never scans the history of finished jobs.
    pub(crate) async fn unfinished(&self) -> Result<Vec<StateCount>, ApiError> {
        let storage = self.client.storage().clone();
        self.unfinished
            .get(self.options.count_cache, move || async move {
                Ok(storage.job_count_unfinished().await?)
            })
            .await
    }

    /// Every queue with settings and counts (cached).
    pub(crate) async fn queues(&self) -> Result<Vec<QueueInfo>, ApiError> {
        let storage = self.client.storage().clone();
        self.queues
            .get(self.options.count_cache, move || async move {
                Ok(storage.queue_list().await?)
            })
            .await
    }

    /// Rereads the queue list now (after a pause, resume or limit change).
    pub(crate) async fn refresh_queues(&self) -> Result<(), ApiError> {
        let storage = self.client.storage().clone();
        self.queues
            .refresh(move || async move { Ok(storage.queue_list().await?) })
            .await
            .map(drop)
    }

    /// Finalized jobs per minute since `since` (cached per range, refreshed at most every
    /// few seconds).
    pub(crate) async fn throughput(
        &self,
        day: bool,
        since: DateTime<Utc>,
    ) -> Result<Vec<ThroughputBucket>, ApiError> {
        let storage = self.client.storage().clone();
        let cache = if day {
            &self.history_day
        } else {
            &self.history_hour
        };
        cache
            .get(self.options.count_cache, move || async move {
                Ok(storage
                    .job_throughput(JobThroughputParams { since })
                    .await?)
            })
            .await
    }

    /// Marks the counts stale after an action.
    pub(crate) async fn invalidate(&self) {
        self.counts.expire().await;
        self.unfinished.expire().await;
        self.queues.expire().await;
        self.history_hour.expire().await;
        self.history_day.expire().await;
    }

    /// Applies the redaction hook.
    pub(crate) fn redact(&self, mut job: JobRow) -> JobRow {
        if let Some(redact) = &self.options.redact {
            redact(&mut job);
        }
        job
    }
}
