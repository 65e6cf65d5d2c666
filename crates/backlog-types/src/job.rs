use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{JobState, LeaseToken};

/// A job's identifier, assigned by the database in insertion order.
pub type JobId = i64;

/// One failed attempt, as recorded in the job's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// The attempt that failed (1 for the first run).
    pub attempt: i32,
    /// When the failure was recorded.
    pub at: DateTime<Utc>,
    /// The error's message, or the panic's message for a panic.
    pub message: String,
    /// Whether the job's code panicked rather than returned an error.
    #[serde(default)]
    pub panicked: bool,
    /// The error's type, when the worker named one: an exception class, a Rust error type,
    /// or Backlog's own `timeout`, `expired`, `rescued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Where it happened, as the worker reported it (remote workers send their language's
    /// stack trace; the protocol caps it at 64 lines and 16 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
}

/// A job as stored: everything the database knows about it.
///
/// This is the row every backend returns; the typed view for workers lives in the `backlog`
/// crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    /// Identifier, unique within the database.
    pub id: JobId,
    /// Current state.
    pub state: JobState,
    /// The queue it was enqueued on.
    pub queue: String,
    /// The job kind, which picks the worker that runs it.
    pub kind: String,
    /// The arguments as JSON, readable with plain SQL.
    pub args: serde_json::Value,
    /// Higher runs first.
    pub priority: i16,
    /// Attempts started so far (0 before the first run).
    pub attempt: i32,
    /// Attempts allowed before the job is discarded.
    pub max_attempts: i32,
    /// When it was (or will be) runnable.
    pub scheduled_at: DateTime<Utc>,
    /// When it was inserted.
    pub created_at: DateTime<Utc>,
    /// When the latest attempt started.
    pub attempted_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finalized_at: Option<DateTime<Utc>>,
    /// While running: when its lease runs out unless a heartbeat renews it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker ids that attempted it, one entry per attempt.
    pub attempted_by: Vec<String>,
    /// One record per failed attempt.
    pub errors: Vec<AttemptError>,
    /// How long each finished attempt ran, in microseconds, in attempt order.
    pub attempt_durations_us: Vec<i64>,
    /// Free-form labels for searching.
    pub tags: Vec<String>,
    /// Free-form JSON object for the user's own bookkeeping.
    pub metadata: serde_json::Value,
    /// How many times the job was rescued after its worker stopped heartbeating. A job rescued
    /// too often is a poison job and is discarded.
    #[serde(default)]
    pub rescue_count: i32,
    /// When cancellation of this job was requested while it ran (its worker is told and the
    /// attempt ends `cancelled`).
    #[serde(default)]
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// A searchable identifier given at enqueue; not unique.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The value the job's code recorded with its outcome (`Job::set_result`), if any.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// The latest progress the job's code reported (`Job::set_progress`), if any: any JSON
    /// value, by convention `{"percent": 40, "message": "..."}`.
    #[serde(default)]
    pub progress: Option<serde_json::Value>,
    /// The token of the latest claim: while `running`, the execution that holds the job; once
    /// that execution's outcome is recorded, kept so that a retried write of it is recognised
    /// as already applied. Cleared when a rescue takes the job from its holder. `None` before
    /// the first claim.
    #[serde(default)]
    pub lease_token: Option<LeaseToken>,
    /// The job's own limit on one attempt's run time, in milliseconds, given at enqueue
    /// (`None`: the worker's or the kind's).
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    /// The job's own backoff between attempts, given at enqueue, as the `backlog` crate stores
    /// it (`None`: the worker's or the kind's).
    #[serde(default)]
    pub backoff: Option<serde_json::Value>,
    /// If the job has not started by then, it is discarded (error kind `expired`) instead of
    /// running late.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The fair-queue partition (a tenant, a customer): claims rotate over the keys of a queue.
    #[serde(default)]
    pub partition_key: Option<String>,
}
