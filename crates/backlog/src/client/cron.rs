//! Managing periodic job schedules from the [`Client`].

use backlog_storage::{CronDefinition, CronRow, CronUpsertParams};
use chrono::{DateTime, Utc};

use crate::cron::{CronSchedule, ScheduleError};
use crate::{Client, Error, InsertOpts};

impl Client {
    /// Creates or replaces the periodic schedule `schedule.name`; the leader's cron enqueuer is
    /// woken to take it into account. The first tick is the schedule's next one after now
    /// (database clock). Replacing a schedule whose timing (expression or interval, and time
    /// zone) is unchanged keeps its pending tick, so declaring schedules at every start is safe.
    pub async fn cron_upsert(&self, schedule: CronSchedule) -> Result<CronRow, Error> {
        let now = self.storage.now().await?;
        self.cron_upsert_at(schedule, now).await
    }

    /// Like [`Client::cron_upsert`] with an explicit current time (tests).
    pub async fn cron_upsert_at(
        &self,
        schedule: CronSchedule,
        now: DateTime<Utc>,
    ) -> Result<CronRow, Error> {
        let name_len = schedule.name.chars().count();
        if name_len == 0 || name_len > 255 {
            return Err(ScheduleError::InvalidName(schedule.name).into());
        }
        // The same validation as an enqueue, so every tick's job is insertable.
        let mut opts = InsertOpts::new()
            .queue(schedule.queue.clone())
            .priority(schedule.priority);
        if let Some(attempts) = schedule.max_attempts {
            opts = opts.max_attempts(attempts);
        }
        for tag in &schedule.tags {
            opts = opts.tag(tag.clone());
        }
        let job = self
            .prepare_raw(&schedule.kind, schedule.args.clone(), opts)
            .map_err(ScheduleError::Job)?;
        let next_run_at = schedule.schedule.next_after(now, now, schedule.timezone)?;
        let row = self
            .storage
            .cron_upsert(CronUpsertParams {
                definition: CronDefinition {
                    name: schedule.name,
                    kind: job.kind,
                    args: schedule.args,
                    queue: job.queue,
                    priority: job.priority,
                    max_attempts: job.max_attempts,
                    tags: job.tags,
                    spec: schedule.schedule.to_string(),
                    timezone: schedule.timezone.name().to_owned(),
                    missed_policy: schedule.missed,
                    enabled: schedule.enabled,
                },
                next_run_at,
                now: Some(now),
            })
            .await?;
        Ok(row)
    }

    /// Deletes a periodic schedule; returns whether it existed. Jobs it already enqueued stay.
    pub async fn cron_delete(&self, name: &str) -> Result<bool, Error> {
        Ok(self.storage.cron_delete(name).await?)
    }

    /// Every periodic schedule, by name.
    pub async fn cron_list(&self) -> Result<Vec<CronRow>, Error> {
        Ok(self.storage.cron_list().await?)
    }
}
