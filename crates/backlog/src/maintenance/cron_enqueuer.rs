//! The cron enqueuer: enqueues the jobs of periodic schedules when their ticks come.
//!
//! It runs on the leader only. It sleeps until the earliest `next_run_at` (capped, in case a
//! wake-up is lost), and is woken early when a schedule changes ([`Event::CronChanged`]). Each
//! due schedule is handled by one `cron_tick`: a compare-and-set of `next_run_at` in the
//! transaction that inserts the jobs, so two leaders for a split second, a restart or a leader
//! change can neither skip nor repeat a tick.

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{ArgsJson, CronRow, CronTickParams, Event, JobInsert, Storage};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::MaintenanceConfig;
use crate::cron::{self, Schedule, ScheduleError};
use crate::Error;

/// Longest sleep between passes, so that a lost wake-up or a clock jump costs at most this.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Enqueues due ticks of the periodic schedules stored in the database.
///
/// The runner runs one on the leader. Tests can drive it directly with
/// [`CronEnqueuer::enqueue_due`] and an explicit time instead of sleeping.
#[derive(Clone)]
pub struct CronEnqueuer {
    storage: Arc<dyn Storage>,
    grace: Duration,
}

/// What one pass of [`CronEnqueuer::enqueue_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronPass {
    /// Jobs inserted, by schedule name.
    pub enqueued: Vec<(String, Vec<JobId>)>,
    /// The earliest tick still to come among enabled schedules.
    pub next_run_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for CronEnqueuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronEnqueuer")
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl CronEnqueuer {
    /// An enqueuer over `storage`. A due tick at most `grace` old is on time; older ones were
    /// missed and follow the schedule's [`MissedPolicy`](crate::cron::MissedPolicy).
    pub fn new(storage: Arc<dyn Storage>, grace: Duration) -> CronEnqueuer {
        CronEnqueuer { storage, grace }
    }

    /// Handles every schedule due at `now`. Schedules that cannot be read (an invalid stored
    /// spec) are logged and left alone; ticks another process took are skipped.
    pub async fn enqueue_due(&self, now: DateTime<Utc>) -> Result<CronPass, Error> {
        let mut pass = CronPass::default();
        for row in self.storage.cron_list().await? {
            if !row.definition.enabled {
                continue;
            }
            let next = if row.next_run_at <= now {
                match self.tick(&row, now).await {
                    Ok((ids, next)) => {
                        if let Some(ids) = ids.filter(|ids| !ids.is_empty()) {
                            pass.enqueued.push((row.definition.name.clone(), ids));
                        }
                        next
                    }
                    Err(Error::Schedule(error)) => {
                        tracing::warn!(schedule = %row.definition.name, %error, "cannot evaluate schedule");
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            } else {
                row.next_run_at
            };
            pass.next_run_at = Some(pass.next_run_at.map_or(next, |n| n.min(next)));
        }
        Ok(pass)
    }

    /// Takes one due schedule's tick(s): the jobs inserted (`None` if another process took the
    /// tick) and the following tick.
    async fn tick(
        &self,
        row: &CronRow,
        now: DateTime<Utc>,
    ) -> Result<(Option<Vec<JobId>>, DateTime<Utc>), Error> {
        let d = &row.definition;
        let schedule: Schedule = d.spec.parse()?;
        let tz = d
            .timezone
            .parse()
            .map_err(|_| ScheduleError::UnknownTimeZone(d.timezone.clone()))?;
        let Some(plan) = cron::plan(
            &schedule,
            tz,
            d.missed_policy,
            row.next_run_at,
            now,
            self.grace,
        )?
        else {
            return Ok((None, row.next_run_at));
        };
        if plan.skipped > 0 {
            tracing::warn!(schedule = %d.name, skipped = plan.skipped, policy = %d.missed_policy, "missed ticks skipped");
        }
        let jobs = plan
            .ticks
            .iter()
            .map(|tick| JobInsert {
                queue: d.queue.clone(),
                kind: d.kind.clone(),
                args: ArgsJson::from(&d.args),
                priority: d.priority,
                max_attempts: d.max_attempts,
                scheduled_at: Some(*tick),
                run_after: None,
                tags: d.tags.clone(),
                metadata: json!({ "cron": d.name, "cron_tick": tick }),
                // Searchable: `backlog jobs list --fingerprint cron:<name>`.
                fingerprint: Some(format!("cron:{}", d.name)),
                // Exactly one job per tick comes from the compare-and-set, not a unique key.
                unique: None,
                idempotency: None,
                timeout: None,
                backoff: None,
                expires_at: None,
                partition_key: None,
            })
            .collect();
        let ids = self
            .storage
            .cron_tick(CronTickParams {
                name: d.name.clone(),
                expected: row.next_run_at,
                next_run_at: plan.next,
                last_run_at: plan.last,
                jobs,
            })
            .await?;
        Ok((ids, plan.next))
    }
}

/// The service loop, until `shutdown`.
pub(crate) async fn run(
    storage: Arc<dyn Storage>,
    config: MaintenanceConfig,
    shutdown: CancellationToken,
) {
    let enqueuer = CronEnqueuer::new(storage.clone(), config.cron_grace);
    let mut events = storage.event_subscribe().await.ok();
    loop {
        let wait = match pass(&enqueuer, &*storage).await {
            Ok(wait) => wait,
            Err(error) => {
                tracing::warn!(%error, "cron pass failed");
                Duration::from_secs(1)
            }
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            let Some(rx) = events.as_mut() else {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = &mut sleep => break,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut sleep => break,
                event = rx.recv() => match event {
                    Ok(Event::CronChanged | Event::Resync) | Err(RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(RecvError::Closed) => events = None,
                },
            }
        }
    }
}

/// One pass at the database's time; returns how long to sleep.
async fn pass(enqueuer: &CronEnqueuer, storage: &dyn Storage) -> Result<Duration, Error> {
    let now = storage.now().await?;
    let pass = enqueuer.enqueue_due(now).await?;
    for (name, ids) in &pass.enqueued {
        tracing::debug!(schedule = %name, jobs = ids.len(), "enqueued periodic jobs");
    }
    Ok(pass
        .next_run_at
        .map_or(MAX_SLEEP, |next| {
            (next - now).to_std().unwrap_or(Duration::ZERO)
        })
        .min(MAX_SLEEP))
}
