//! Routes the backend's wake-up signals to the producers of this runner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::Event;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

use super::Shared;

/// Subscribes to the storage's events, wakes the producer of each queue that got jobs and
/// passes cancellation requests to the jobs they name.
/// If the subscription fails (database down), producers keep polling and the subscription is
/// retried with backoff.
///
/// `ready` turns true once the first subscription attempt is over: producers wait for it before
/// their first fetch, so a job inserted after that fetch always finds a subscriber to wake (one
/// inserted before is found by the fetch itself).
pub(crate) async fn run(
    shared: Arc<Shared>,
    wakers: HashMap<String, Arc<Notify>>,
    ready: tokio::sync::watch::Sender<bool>,
) {
    let wake_all = || wakers.values().for_each(|w| w.notify_one());
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            s = shared.storage.event_subscribe() => s,
        };
        let resubscribed = *ready.borrow();
        ready.send_replace(true);
        let mut rx = match subscribed {
            Ok(rx) => {
                if resubscribed {
                    // Signals sent while unsubscribed are lost: everyone fetches once.
                    wake_all();
                }
                rx
            }
            Err(error) => {
                tracing::warn!(%error, "could not subscribe to wake-ups; polling meanwhile");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        loop {
            let event = tokio::select! {
                _ = shared.shutdown.cancelled() => return,
                e = rx.recv() => e,
            };
            match event {
                Ok(Event::JobAvailable { queue } | Event::QueueResumed { queue }) => {
                    if let Some(waker) = wakers.get(&queue) {
                        waker.notify_one();
                    }
                }
                Ok(Event::CancelRequested { ids }) => {
                    shared.request_cancel(&ids);
                }
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                    wake_all();
                    // Cancellation requests may have been among the missed signals: the
                    // heartbeat's answer carries them.
                    shared.heartbeat_now.notify_one();
                }
                // Leadership and schedules concern the maintenance services, not producers.
                Ok(Event::LeaderResigned { .. } | Event::CronChanged) => {}
                Err(RecvError::Closed) => break,
            }
        }
    }
}
