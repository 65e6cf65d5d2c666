//! Parameter and result types of the periodic job methods (`cron_*`).
//!
//! The storage layer does not interpret schedules: it stores the specification text and the
//! next due time computed by the library, and makes each tick atomic ([`CronTickParams`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::JobInsert;

/// What to do with ticks that were missed while no leader was running (downtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MissedPolicy {
    /// No job for missed ticks: continue with the next future one. The default.
    #[default]
    Skip,
    /// One job standing for all the missed ticks.
    RunOnce,
    /// One job per missed tick, up to a cap (the library's `CATCH_UP_MAX`).
    CatchUp,
}

impl MissedPolicy {
    /// The stored spelling: `skip`, `run_once` or `catch_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissedPolicy::Skip => "skip",
            MissedPolicy::RunOnce => "run_once",
            MissedPolicy::CatchUp => "catch_up",
        }
    }
}

impl fmt::Display for MissedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a [`MissedPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown missed-tick policy `{0}`: use skip, run_once or catch_up")]
pub struct UnknownMissedPolicy(pub String);

impl FromStr for MissedPolicy {
    type Err = UnknownMissedPolicy;

    /// Accepts the stored spelling and the CLI's (`once`, `catch-up`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(MissedPolicy::Skip),
            "run_once" | "run-once" | "once" => Ok(MissedPolicy::RunOnce),
            "catch_up" | "catch-up" => Ok(MissedPolicy::CatchUp),
            other => Err(UnknownMissedPolicy(other.to_owned())),
        }
    }
}

/// What a periodic job is: the job to enqueue at each tick and when the ticks are.
#[derive(Debug, Clone, PartialEq)]
pub struct CronDefinition {
    /// Unique name of the schedule.
    pub name: String,
    /// Kind of the jobs enqueued.
    pub kind: String,
    /// Arguments of the jobs enqueued.
    pub args: serde_json::Value,
    /// Queue of the jobs enqueued.
    pub queue: String,
    /// Priority of the jobs enqueued.
    pub priority: i16,
    /// Attempts allowed to the jobs enqueued.
    pub max_attempts: i32,
    /// Tags of the jobs enqueued.
    pub tags: Vec<String>,
    /// The schedule as text: a cron expression, or `@every <duration>` (parsed by the library).
    pub spec: String,
    /// IANA time zone in which a cron expression is read (`UTC`, `Europe/Paris`).
    pub timezone: String,
    /// What to do with ticks missed during downtime.
    pub missed_policy: MissedPolicy,
    /// Disabled schedules keep their row but enqueue nothing.
    pub enabled: bool,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct CronRow {
    /// The definition.
    pub definition: CronDefinition,
    /// The next tick not yet enqueued.
    pub next_run_at: DateTime<Utc>,
    /// The last tick handled (enqueued or skipped).
    pub last_run_at: Option<DateTime<Utc>>,
    /// When the schedule was first created.
    pub created_at: DateTime<Utc>,
    /// When the definition last changed.
    pub updated_at: DateTime<Utc>,
}

/// Parameters of [`Storage::cron_upsert`](crate::Storage::cron_upsert).
#[derive(Debug, Clone)]
pub struct CronUpsertParams {
    /// The schedule; replaces any schedule of the same name.
    pub definition: CronDefinition,
    /// The first tick, computed by the caller. Ignored when a schedule of this name exists with
    /// the same `spec` and `timezone`: its pending tick is kept, so that redeclaring schedules
    /// at every start neither skips nor repeats a tick.
    pub next_run_at: DateTime<Utc>,
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
}

/// Parameters of [`Storage::cron_tick`](crate::Storage::cron_tick).
#[derive(Debug, Clone)]
pub struct CronTickParams {
    /// The schedule.
    pub name: String,
    /// The tick the caller handles: the tick is taken only if the stored `next_run_at` still
    /// equals this (compare-and-set), so a tick is handled by exactly one caller.
    pub expected: DateTime<Utc>,
    /// The following tick, stored as the new `next_run_at`.
    pub next_run_at: DateTime<Utc>,
    /// Stored as `last_run_at`: the last tick handled.
    pub last_run_at: DateTime<Utc>,
    /// The jobs to insert for the handled tick(s), in the same transaction (may be empty, e.g.
    /// when missed ticks are skipped).
    pub jobs: Vec<JobInsert>,
}
