//! Stale-while-revalidate caches for the reads that scan the job table (counts per queue and
//! state, the queue list with its counts, the throughput history): a request gets the cached
//! value at once, and one that finds it older than the cache period starts a single background
//! refresh. Only the very first request of a cache waits for the query. So pages and scrapes stay
//! fast on big tables, at the cost of numbers up to a period (plus one query) old.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::ApiError;

/// A value and when it was read.
type Slot<T> = Arc<Mutex<Option<(Instant, T)>>>;

/// One cached read.
pub(crate) struct Cached<T> {
    slot: Slot<T>,
    refreshing: Arc<AtomicBool>,
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            slot: self.slot.clone(),
            refreshing: self.refreshing.clone(),
        }
    }
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Cached {
            slot: Arc::new(Mutex::new(None)),
            refreshing: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<T: Clone + Send + 'static> Cached<T> {
    /// The cached value, refreshed in the background when older than `period`; loaded now when
    /// there is none yet.
    pub(crate) async fn get<F, Fut>(&self, period: Duration, load: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        {
            let slot = self.slot.lock().await;
            if let Some((at, value)) = slot.as_ref() {
                if at.elapsed() >= period && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let slot = self.slot.clone();
                    let refreshing = self.refreshing.clone();
                    tokio::spawn(async move {
                        match load().await {
                            Ok(value) => *slot.lock().await = Some((Instant::now(), value)),
                            Err(e) => {
                                tracing::warn!(error = %e, "backlog web: cache refresh failed")
                            }
                        }
                        refreshing.store(false, Ordering::Release);
                    });
                }
                return Ok(value.clone());
            }
        }
        self.refresh(load).await
    }

    /// Loads the value now and caches it (after an action whose effect must show at once).
    pub(crate) async fn refresh<F, Fut>(&self, load: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let value = load().await?;
        *self.slot.lock().await = Some((Instant::now(), value.clone()));
        Ok(value)
    }

    /// Marks the value stale, so that the next read refreshes it in the background.
    pub(crate) async fn expire(&self) {
        if let Some((at, _)) = self.slot.lock().await.as_mut() {
            if let Some(past) = Instant::now().checked_sub(Duration::from_secs(3600)) {
                *at = past;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[tokio::test]
    async fn serves_stale_values_while_one_refresh_runs() {
        let cache: Cached<u32> = Cached::default();
        let loads = Arc::new(AtomicU32::new(0));
        let load = |loads: Arc<AtomicU32>| {
            move || async move { Ok(loads.fetch_add(1, Ordering::SeqCst) + 1) }
        };
        // The first read waits for the load.
        assert_eq!(
            cache
                .get(Duration::from_secs(60), load(loads.clone()))
                .await
                .unwrap(),
            1
        );
        // Fresh: no load.
        assert_eq!(
            cache
                .get(Duration::from_secs(60), load(loads.clone()))
                .await
                .unwrap(),
            1
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Stale: the old value at once, and a refresh in the background.
        cache.expire().await;
        assert_eq!(
            cache
                .get(Duration::from_secs(60), load(loads.clone()))
                .await
                .unwrap(),
            1
        );
        // Wait for the background refresh to land (it flips `refreshing` back).
        while cache.refreshing.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            cache
                .get(Duration::from_secs(60), load(loads.clone()))
                .await
                .unwrap(),
            2
        );
        // An explicit refresh reads now.
        assert_eq!(cache.refresh(load(loads.clone())).await.unwrap(), 3);
    }
}
