//! Opening and closing a session: `Hello`, `Welcome`, `Goodbye`.

use backlog_types::JobId;
use serde::{Deserialize, Serialize};

use crate::LeaseToken;

/// What a peer does in its session. A worker may also enqueue (a job that enqueues follow-up
/// jobs sends `Request`s on its worker session), so `Worker` includes `Producer`'s rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Enqueues jobs (`Request`) and nothing else; receives no `Order`.
    Producer,
    /// Announces kinds, queues and capacity, receives `Order`s and reports their outcomes; may
    /// also enqueue.
    Worker,
}

/// One execution a worker holds: the job and the token of its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Held {
    /// The job.
    pub job_id: JobId,
    /// The lease token the `Order` carried.
    pub lease: LeaseToken,
}

/// First message of every session, client to server. Nothing but `Hello` is accepted from a
/// routing id without a session (the server answers `Error` `no_session`).
///
/// A worker that reconnects (its server restarted, or it moved to another server) lists in
/// `holding` the executions it still runs, so that they keep their leases and count against
/// its capacity before any new `Order` is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The session's role.
    pub role: Role,
    /// Stable name of this process, recorded in each job's `attempted_by` (e.g.
    /// `host:pid:random`). Required for workers; 1 to 128 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Job kinds this worker runs (workers: at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Queues this worker takes jobs from (workers: at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// Most orders this worker holds at once, unreported (workers: at least 1). The server never
    /// sends more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Executions still held from an earlier session (reconnect).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holding: Vec<Held>,
    /// A bearer token, when the server is configured with tokens (on top of CURVE, which
    /// authenticates the connection itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The client library and its version, for logs (e.g. `backlog-python/0.1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
}

/// The server's answer to `Hello`: the session is open, under these limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Identifies the session in the server's logs; a new one on every `Hello`.
    pub session: String,
    /// Identifies the server process (several servers can share one database).
    pub server_id: String,
    /// Send a `Heartbeat` this often (milliseconds). A session silent for three intervals is
    /// closed; a worker's leases then run out and the rescuer takes its jobs back.
    pub heartbeat_ms: u64,
    /// How long a lease lasts after each renewal (milliseconds).
    pub lease_ms: u64,
    /// Largest message the server accepts (bytes); bigger ones are answered `too_large`.
    pub max_message_bytes: u64,
    /// Most jobs in one `Request`.
    pub max_batch: u32,
    /// The capacity granted (the worker's, clamped by the server); absent for producers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Executions of `Hello::holding` that are no longer this worker's (rescued, cancelled,
    /// finished, or a wrong token): stop them and report nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<Held>,
}

/// Ends a session, either way. From a worker: it holds nothing more (it reported or released
/// everything first). From the server: it is shutting down; connect to another server or
/// reconnect after `reconnect_ms`, saying what you hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Why, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// From the server: wait at least this long before reconnecting to it (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_ms: Option<u64>,
}
