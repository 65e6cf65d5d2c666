//! Stale-while-revalidate caches for the reads that scan the job table (counts per queue and
//! state, the queue list with its counts, the throughput history): a request gets the cached
//! value at once, and one that finds it older than the cache period starts a single background
//! refresh. Only the very first request of a cache waits for the query. So pages and scrapes stay
//! fast on big tables, at the cost of numbers up to a period (plus one query) old.
//!
//! A read that takes long is refreshed less often: at most every [`COST_FACTOR`] times its last
//! duration, so that an open dashboard (or a Prometheus scrape) never keeps the database busy
//! with counts more than a tenth of the time. On a table with millions of finished jobs a count
//! takes seconds; refreshed every 2 s, it would scan the table without pause.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::ApiError;

/// How many times a read's own duration must pass before it is refreshed again (see the module
/// docs).
pub(crate) const COST_FACTOR: u32 = 10;

/// A value, when it was read and how long the read took.
struct Entry<T> {
    at: Instant,
    took: Duration,
    value: T,
}

type Slot<T> = Arc<Mutex<Option<Entry<T>>>>;

/// How old a value may get before it is refreshed: `period`, or more for a costly read.
fn due(period: Duration, took: Duration) -> Duration {
    period.max(took.saturating_mul(COST_FACTOR))
}

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
            if let Some(entry) = slot.as_ref() {
                if entry.at.elapsed() >= due(period, entry.took)
                    && !self.refreshing.swap(true, Ordering::AcqRel)
                {
                    let slot = self.slot.clone();
                    let refreshing = self.refreshing.clone();
                    tokio::spawn(async move {
                        let started = Instant::now();
                        match load().await {
                            Ok(value) => {
                                *slot.lock().await = Some(Entry {
                                    at: Instant::now(),
                                    took: started.elapsed(),
                                    value,
                                })
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "backlog web: cache refresh failed")
                            }
                        }
                        refreshing.store(false, Ordering::Release);
                    });
                }
                return Ok(entry.value.clone());
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
        let started = Instant::now();
        let value = load().await?;
        *self.slot.lock().await = Some(Entry {
            at: Instant::now(),
            took: started.elapsed(),
            value: value.clone(),
        });
        Ok(value)
    }

    /// Marks the value stale, so that the next read refreshes it in the background, however
    /// long the last read took (an action's effect should show).
    pub(crate) async fn expire(&self) {
        if let Some(entry) = self.slot.lock().await.as_mut() {
            if let Some(past) = Instant::now().checked_sub(Duration::from_secs(3600)) {
                entry.at = past;
                entry.took = Duration::ZERO;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[test]
    fn a_costly_read_is_refreshed_less_often() {
        let period = Duration::from_secs(2);
        assert_eq!(due(period, Duration::from_millis(5)), period);
        assert_eq!(
            due(period, Duration::from_millis(1500)),
            Duration::from_secs(15)
        );
    }

    #[tokio::test]
    async fn a_value_that_took_long_to_read_is_kept_past_the_period() {
        let cache: Cached<u32> = Cached::default();
        // Read 3 s ago, in 1 s: older than the 2 s period, younger than 10 × 1 s.
        *cache.slot.lock().await = Some(Entry {
            at: Instant::now() - Duration::from_secs(3),
            took: Duration::from_secs(1),
            value: 7,
        });
        let loads = Arc::new(AtomicU32::new(0));
        let counted = loads.clone();
        let value = cache
            .get(Duration::from_secs(2), move || async move {
                Ok(counted.fetch_add(1, Ordering::SeqCst))
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        assert!(
            !cache.refreshing.load(Ordering::Acquire),
            "no refresh started"
        );
        assert_eq!(loads.load(Ordering::SeqCst), 0);
        // An action's expiry refreshes it however long it took.
        cache.expire().await;
        let counted = loads.clone();
        cache
            .get(Duration::from_secs(2), move || async move {
                Ok(counted.fetch_add(1, Ordering::SeqCst))
            })
            .await
            .unwrap();
        assert!(
            cache.refreshing.load(Ordering::Acquire) || loads.load(Ordering::SeqCst) == 1,
            "a refresh started"
        );
    }

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
