//! Periodic jobs: a [`CronSchedule`] says which job to enqueue and when ([`Schedule`], a cron
//! expression with seconds and a time zone, or a fixed interval).
//!
//! Schedules live in the database (`backlog_cron`), so they survive restarts and are shared by
//! every process; add, change and remove them at runtime with [`Client::cron_upsert`],
//! [`Client::cron_delete`] and [`Client::cron_list`]. The leader's
//! [`CronEnqueuer`](crate::maintenance::CronEnqueuer) enqueues each tick exactly once: the tick
//! is taken by a compare-and-set of the schedule's `next_run_at` in the transaction that
//! inserts the job. See `docs/leader_and_cron.md`.
//!
//! ```no_run
//! # async fn example(client: backlog::Client) -> Result<(), backlog::Error> {
//! use backlog::cron::{CronSchedule, MissedPolicy, Schedule};
//!
//! let nightly = CronSchedule::new("nightly-report", "report", serde_json::json!({}), "0 30 2 * * *".parse()?)
//!     .timezone("Europe/Paris")?
//!     .queue("reports")
//!     .missed(MissedPolicy::RunOnce);
//! client.cron_upsert(nightly).await?;
//! # Ok(()) }
//! ```
//!
//! [`Client::cron_upsert`]: crate::Client::cron_upsert
//! [`Client::cron_delete`]: crate::Client::cron_delete
//! [`Client::cron_list`]: crate::Client::cron_list

mod plan;
mod schedule;

use backlog_types::Priority;
use chrono_tz::Tz;

pub use backlog_storage::{CronRow, MissedPolicy};
pub(crate) use plan::plan;
pub use plan::CATCH_UP_MAX;
pub use schedule::{parse_duration, Schedule};

use crate::EnqueueError;

/// Why a schedule is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The schedule's name is empty or longer than 255 characters.
    #[error("invalid schedule name `{0}`: use 1 to 255 characters")]
    InvalidName(String),
    /// The cron expression does not parse (or never matches).
    #[error("invalid cron expression `{expression}`: {reason}")]
    InvalidCron {
        /// The expression.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The interval does not parse or is below one second.
    #[error("invalid interval {0}")]
    InvalidInterval(String),
    /// The time zone is not an IANA name known to `chrono-tz`.
    #[error("unknown time zone `{0}`: use an IANA name such as UTC or Europe/Paris")]
    UnknownTimeZone(String),
    /// The job it would enqueue is invalid (kind, queue, args, attempts).
    #[error("invalid job for the schedule: {0}")]
    Job(#[source] EnqueueError),
}

/// A periodic job: which job to enqueue at each tick of a [`Schedule`].
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// Unique name; upserting a schedule of the same name replaces it.
    pub name: String,
    /// Kind of the jobs enqueued.
    pub kind: String,
    /// Arguments of the jobs enqueued.
    pub args: serde_json::Value,
    /// When.
    pub schedule: Schedule,
    /// Time zone in which a cron expression is read (default UTC).
    pub timezone: Tz,
    /// Queue of the jobs (default `default`).
    pub queue: String,
    /// Priority of the jobs.
    pub priority: Priority,
    /// Attempts allowed to each job (default: the client's default).
    pub max_attempts: Option<i32>,
    /// Tags of the jobs.
    pub tags: Vec<String>,
    /// What to do with ticks missed during downtime (default [`MissedPolicy::Skip`]).
    pub missed: MissedPolicy,
    /// Disabled schedules are kept but enqueue nothing (default enabled).
    pub enabled: bool,
}

impl CronSchedule {
    /// A schedule with defaults: UTC, queue `default`, normal priority, missed ticks skipped.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        args: serde_json::Value,
        schedule: Schedule,
    ) -> CronSchedule {
        CronSchedule {
            name: name.into(),
            kind: kind.into(),
            args,
            schedule,
            timezone: Tz::UTC,
            queue: backlog_types::QueueName::DEFAULT.to_owned(),
            priority: Priority::NORMAL,
            max_attempts: None,
            tags: Vec::new(),
            missed: MissedPolicy::Skip,
            enabled: true,
        }
    }

    /// Reads the cron expression in this IANA time zone.
    pub fn timezone(mut self, name: &str) -> Result<Self, ScheduleError> {
        self.timezone = name
            .parse()
            .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))?;
        Ok(self)
    }

    /// Sets the jobs' queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Sets the jobs' priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the attempts allowed to each job.
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Adds a tag to the jobs.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the missed-tick policy.
    pub fn missed(mut self, policy: MissedPolicy) -> Self {
        self.missed = policy;
        self
    }

    /// Enables or disables the schedule.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}
