//! Running jobs: `Order`, `Heartbeat` / `HeartbeatAck`, `Extend`, `Progress`, `Release`,
//! `Cancel`.

use backlog_types::JobId;
use serde::{Deserialize, Serialize};

use crate::{json, Held, LeaseToken, Uuid};

/// One claimed job for a worker to run, server to worker.
///
/// Times a worker acts on are durations counted from receipt (`lease_ms`, `timeout_ms`), never
/// absolute times, so a worker's clock skew cannot make it overrun or abandon a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The job.
    pub job_id: JobId,
    /// The claim's token; every write about this execution carries it.
    pub lease: LeaseToken,
    /// The job kind.
    pub kind: String,
    /// The queue it was claimed from.
    pub queue: String,
    /// The arguments.
    #[serde(serialize_with = "json::serialize", deserialize_with = "json::value")]
    pub args: serde_json::Value,
    /// This attempt's number (1 for the first run).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The job's priority.
    pub priority: i16,
    /// The lease lasts this long from now unless a heartbeat renews it (milliseconds).
    pub lease_ms: u64,
    /// Stop the attempt after this long and report it failed (milliseconds); absent: no
    /// limit beyond the worker's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// When the job was stored (milliseconds since the Unix epoch), for information.
    pub created_at_ms: i64,
    /// Labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The producer's metadata.
    #[serde(
        default,
        serialize_with = "json::serialize_option",
        deserialize_with = "json::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<serde_json::Value>,
    /// jobq's submitter name, when the producer gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// jobq's asset UUID, when the producer gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
}

/// Liveness and lease renewal, client to server, every `Welcome::heartbeat_ms`. A worker
/// lists every execution it holds; each listed lease still held is renewed, the others come
/// back in `HeartbeatAck::lost`. Producers send it with an empty list to keep their session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The executions held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
    /// A new capacity (e.g. 0 while the worker drains before an upgrade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// The answer to `Heartbeat`, server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// Executions no longer this worker's (rescued after an expired lease, finished or
    /// cancelled elsewhere, wrong token): stop them, report nothing, count them as free slots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<Held>,
    /// Held jobs whose cancellation was requested: stop them and report `Failed` with action
    /// `cancel` (the fallback when a `Cancel` was missed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel: Vec<JobId>,
    /// An instruction to the whole worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// The renewed leases last this long from now (milliseconds).
    pub lease_ms: u64,
}

/// What the server asks of a whole worker (states only move forward, as in Faktory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Finish what you hold; you get no more orders.
    Quiet,
    /// Stop: release what you hold, say `Goodbye`, exit.
    Terminate,
}

/// Ask for a longer lease for one execution now, client to server (e.g. before a blocking
/// step that could delay the next heartbeat). Answered by `Recorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extend {
    /// The job.
    pub job_id: JobId,
    /// The execution's token.
    pub lease: LeaseToken,
    /// The lease wanted from now (milliseconds); the server clamps it to its maximum and says
    /// what it granted in `Recorded::lease_ms`.
    pub lease_ms: u64,
}

/// The progress of a running job, client to server. Answered by `Recorded`; a worker
/// throttles these (the server stores the latest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The job.
    pub job_id: JobId,
    /// The execution's token.
    pub lease: LeaseToken,
    /// Any JSON value; by convention `{"percent": 40, "message": "..."}`.
    #[serde(serialize_with = "json::serialize", deserialize_with = "json::value")]
    pub progress: serde_json::Value,
}

/// Give a job back without spending its attempt, client to server (the worker is shutting
/// down, or cannot start it). The job becomes available again in its original place.
/// Answered by `Recorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The job.
    pub job_id: JobId,
    /// The execution's token.
    pub lease: LeaseToken,
    /// Why, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Stop these running jobs now, server to worker (their cancellation was requested). The
/// worker ends each and reports `Failed` with action `cancel` (or its real outcome if it had
/// already finished). No reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    /// The executions to stop.
    pub jobs: Vec<Held>,
}
