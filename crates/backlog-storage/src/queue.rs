//! Parameter and result structs of the flow-control methods: queue settings (pause, limits),
//! rate limits and job progress.

use std::collections::BTreeMap;
use std::time::Duration;

use backlog_types::{JobId, JobState, LeaseToken};
use chrono::{DateTime, Utc};

/// A rate limit: at most `max` starts per `period`, as a token bucket that holds up to `max`
/// tokens and refills continuously at `max / period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens in a full bucket: the largest burst, and the starts allowed per period.
    pub max: u32,
    /// How long an empty bucket takes to refill.
    pub period: Duration,
}

impl RateLimit {
    /// A bucket holding `tokens` refilled for `elapsed`: `max / period` tokens per second,
    /// capped at `max`. Backends whose SQL cannot do the arithmetic use this.
    pub fn refill(&self, tokens: f64, elapsed: Duration) -> f64 {
        let period = self.period.as_secs_f64();
        let rate = if period > 0.0 {
            f64::from(self.max) / period
        } else {
            f64::INFINITY
        };
        (tokens + elapsed.as_secs_f64() * rate).min(f64::from(self.max))
    }

    /// How long until `tokens` (the tokens left, possibly fractional) reaches one whole token.
    pub fn wait_for_token(&self, tokens: f64) -> Duration {
        if tokens >= 1.0 || self.max == 0 {
            return Duration::ZERO;
        }
        let per_token = self.period.as_secs_f64() / f64::from(self.max);
        Duration::from_secs_f64(((1.0 - tokens.max(0.0)) * per_token).max(0.0))
    }
}

/// Parameters of [`Storage::queue_pause`](crate::Storage::queue_pause) and
/// [`Storage::queue_resume`](crate::Storage::queue_resume).
#[derive(Debug, Clone)]
pub struct QueuePauseParams {
    /// The queue (need not have jobs or settings yet).
    pub queue: String,
    /// Overrides the database clock for `paused_at` / `updated_at` (tests).
    pub now: Option<DateTime<Utc>>,
}

/// Parameters of [`Storage::queue_update`](crate::Storage::queue_update). Each field is
/// `None` to leave the setting as it is, `Some(None)` to remove the limit, `Some(Some(_))` to
/// set it.
#[derive(Debug, Clone, Default)]
pub struct QueueUpdateParams {
    /// The queue.
    pub queue: String,
    /// Most jobs of this queue `running` at once across every process sharing the database.
    pub max_running: Option<Option<u32>>,
    /// Most jobs of this queue started per period, across every process.
    pub rate_limit: Option<Option<RateLimit>>,
    /// Most jobs of one partition key of this (fair) queue `running` at once across every
    /// process.
    pub partition_max_running: Option<Option<u32>>,
}

/// A queue's settings and its jobs per state, as returned by
/// [`Storage::queue_get`](crate::Storage::queue_get) and
/// [`Storage::queue_list`](crate::Storage::queue_list).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    /// The queue.
    pub name: String,
    /// When it was paused; `None` while it runs.
    pub paused_at: Option<DateTime<Utc>>,
    /// Cluster-wide limit of running jobs, if any.
    pub max_running: Option<u32>,
    /// Cluster-wide start rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// When its settings last changed (`None`: never configured, it only has jobs).
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether claims rotate over partition keys (set once a keyed job was inserted).
    pub fair: bool,
    /// Cluster-wide limit of running jobs per partition key, if any.
    pub partition_max_running: Option<u32>,
    /// Jobs per state; states without jobs are absent.
    pub counts: BTreeMap<JobState, u64>,
}

impl QueueInfo {
    /// Whether the queue is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Jobs in `state`.
    pub fn count(&self, state: JobState) -> u64 {
        self.counts.get(&state).copied().unwrap_or(0)
    }
}

/// The rate-limit bucket of a queue (its `rate_max` / `rate_period` settings), shared by every
/// process claiming from it.
pub fn queue_bucket(queue: &str) -> String {
    format!("queue:{queue}")
}

/// The rate-limit bucket of a job kind (a worker's `rate_limit`), shared by every process
/// running it.
pub fn kind_bucket(kind: &str) -> String {
    format!("kind:{kind}")
}

/// Parameters of [`Storage::rate_limit_take`](crate::Storage::rate_limit_take).
#[derive(Debug, Clone)]
pub struct RateLimitTakeParams {
    /// The bucket, e.g. `kind:send_email`. Created full on first use.
    pub key: String,
    /// The limit; stored with the bucket (the latest caller's limit wins).
    pub limit: RateLimit,
    /// Tokens wanted; fewer are granted when the bucket runs short.
    pub want: u32,
    /// Overrides the database clock used to refill the bucket (tests).
    pub now: Option<DateTime<Utc>>,
}

/// Result of [`Storage::rate_limit_take`](crate::Storage::rate_limit_take).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitTake {
    /// Tokens granted, at most the number wanted.
    pub granted: u32,
    /// Tokens left in the bucket after the grant (fractional: it refills continuously).
    pub tokens_left: f64,
    /// How long until the next whole token (zero when one is left).
    pub retry_after: Duration,
}

/// Parameters of [`Storage::job_progress_set`](crate::Storage::job_progress_set).
#[derive(Debug, Clone)]
pub struct JobProgressSetParams {
    /// The job.
    pub id: JobId,
    /// The execution reporting progress (from its claim); the write is fenced on it.
    pub lease_token: LeaseToken,
    /// The progress, any JSON value.
    pub progress: serde_json::Value,
}
