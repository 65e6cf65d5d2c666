//! What every handler shares: the client, the options, and the cached counts.

use std::sync::Arc;
use std::time::Instant;

use backlog::Client;
use backlog_storage::StateCount;
use backlog_types::JobRow;
use tokio::sync::Mutex;

use crate::{ApiError, WebOptions};

/// Counts and when they were read.
type CachedCounts = (Instant, Vec<StateCount>);

/// Shared state of the router.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) client: Client,
    pub(crate) options: Arc<WebOptions>,
    /// The normalized mount prefix, for links.
    pub(crate) base: Arc<str>,
    counts: Arc<Mutex<Option<CachedCounts>>>,
}

impl AppState {
    pub(crate) fn new(client: Client, options: WebOptions, base: String) -> AppState {
        AppState {
            client,
            options: Arc::new(options),
            base: base.into(),
            counts: Arc::new(Mutex::new(None)),
        }
    }

    /// Jobs per queue and state, at most `count_cache` old: one `GROUP BY` over the job table
    /// per period however many pages and scrapes ask (the lock makes concurrent callers share
    /// one query).
    pub(crate) async fn counts(&self) -> Result<Vec<StateCount>, ApiError> {
        let mut cached = self.counts.lock().await;
        if let Some((at, counts)) = cached.as_ref() {
            if at.elapsed() < self.options.count_cache {
                return Ok(counts.clone());
            }
        }
        let counts = self.client.storage().job_count_by_state().await?;
        *cached = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    /// Forgets the cached counts (after an action).
    pub(crate) async fn invalidate(&self) {
        *self.counts.lock().await = None;
    }

    /// Applies the redaction hook.
    pub(crate) fn redact(&self, mut job: JobRow) -> JobRow {
        if let Some(redact) = &self.options.redact {
            redact(&mut job);
        }
        job
    }
}
