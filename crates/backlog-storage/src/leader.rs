//! Parameter and result types of the leader election methods (`leader_*`).
//!
//! A leader holds a named lease row in `backlog_leader` until `expires_at`; it keeps it by
//! re-electing before then. Times come from the database clock unless `now` is given (tests).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Parameters of [`Storage::leader_attempt_elect`](crate::Storage::leader_attempt_elect) and
/// [`Storage::leader_attempt_reelect`](crate::Storage::leader_attempt_reelect).
#[derive(Debug, Clone)]
pub struct LeaderElectParams {
    /// The lease's name: one leader per name (the runtime uses `"maintenance"`).
    pub name: String,
    /// Who asks: unique per process (the runner's worker id).
    pub leader_id: String,
    /// How long the lease lasts from now.
    pub ttl: Duration,
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
}

/// Parameters of [`Storage::leader_resign`](crate::Storage::leader_resign).
#[derive(Debug, Clone)]
pub struct LeaderResignParams {
    /// The lease's name.
    pub name: String,
    /// Who resigns: the lease is only given up if this is its holder.
    pub leader_id: String,
}

/// The current holder of a lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The lease's name.
    pub name: String,
    /// The holder.
    pub leader_id: String,
    /// When the holder was elected (kept across re-elections).
    pub elected_at: DateTime<Utc>,
    /// When the lease runs out unless re-elected. A lease past this time is free to take.
    pub expires_at: DateTime<Utc>,
}
