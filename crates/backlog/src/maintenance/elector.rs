//! The elector: keeps this process's claim on the `maintenance` leader lease and publishes
//! whether it holds it on a `watch` channel, which starts and stops the maintenance services.
//!
//! A follower tries to take the lease every `ttl / 3`, and at once when the leader announces
//! its resignation ([`Event::LeaderResigned`]). The leader re-elects every `ttl / 3`; it steps
//! down when re-election says someone else holds the lease, or when the database has been
//! unreachable for so long that the lease may have expired (another process may lead by then).
//! On shutdown the leader steps down first (stopping its services), then resigns, so a
//! follower takes over immediately instead of after the lease expires.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{Event, LeaderElectParams, LeaderResignParams, Storage};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The lease the maintenance services run under.
pub const MAINTENANCE_LEASE: &str = "maintenance";

/// How long a resignation may take at shutdown before it is abandoned (the lease then expires).
const RESIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs until `shutdown`, publishing leadership on `leader`.
pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    leader_id: String,
    ttl: Duration,
    leader: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let interval = ttl / 3;
    let params = LeaderElectParams {
        name: MAINTENANCE_LEASE.to_owned(),
        leader_id: leader_id.clone(),
        ttl,
        now: None,
    };
    let mut events = storage.event_subscribe().await.ok();
    let mut renewed_at: Option<Instant> = None;
    while !shutdown.is_cancelled() {
        match renewed_at {
            None => {
                match storage.leader_attempt_elect(params.clone()).await {
                    Ok(true) => {
                        tracing::info!(%leader_id, "elected leader: running maintenance");
                        renewed_at = Some(Instant::now());
                        leader.send_replace(true);
                        continue;
                    }
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "leader election failed"),
                }
                wait_as_follower(&mut events, interval, &shutdown).await;
            }
            Some(at) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(interval) => {}
                }
                match storage.leader_attempt_reelect(params.clone()).await {
                    Ok(true) => renewed_at = Some(Instant::now()),
                    Ok(false) => {
                        tracing::warn!(%leader_id, "lost the leader lease: stopping maintenance");
                        renewed_at = None;
                        leader.send_replace(false);
                    }
                    // Step down before the lease can run out under us.
                    Err(error) if at.elapsed() + interval >= ttl => {
                        tracing::warn!(%error, "cannot renew the leader lease: stopping maintenance");
                        renewed_at = None;
                        leader.send_replace(false);
                    }
                    Err(error) => tracing::warn!(%error, "leader re-election failed; retrying"),
                }
            }
        }
    }
    if renewed_at.is_some() {
        leader.send_replace(false);
        let resign = storage.leader_resign(LeaderResignParams {
            name: MAINTENANCE_LEASE.to_owned(),
            leader_id,
        });
        match tokio::time::timeout(RESIGN_TIMEOUT, resign).await {
            Ok(Ok(_)) => tracing::info!("resigned leadership"),
            Ok(Err(error)) => tracing::warn!(%error, "could not resign; the lease will expire"),
            Err(_) => tracing::warn!("resigning timed out; the lease will expire"),
        }
    }
}

/// Sleeps `interval`, returning early when the leader resigns (or signals may have been lost).
async fn wait_as_follower(
    events: &mut Option<broadcast::Receiver<Event>>,
    interval: Duration,
    shutdown: &CancellationToken,
) {
    let deadline = tokio::time::sleep(interval);
    tokio::pin!(deadline);
    loop {
        let Some(rx) = events.as_mut() else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut deadline => return,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut deadline => return,
            event = rx.recv() => match event {
                Ok(Event::LeaderResigned { name }) if name == MAINTENANCE_LEASE => return,
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => return,
                Ok(_) => {}
                Err(RecvError::Closed) => *events = None,
            },
        }
    }
}
