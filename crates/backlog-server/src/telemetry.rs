//! The server's metrics, through the [`metrics`] facade like the library's (an application
//! or `backlog serve` installs the exporter). Listed in `docs/metrics.md`.

use backlog_protocol::{RecordStatus, Recordable, Role};

/// Open sessions, by role.
pub const SESSIONS: &str = "backlog_server_sessions";
/// Orders sent and not yet answered nor lost, over all workers.
pub const ORDERS_OUTSTANDING: &str = "backlog_server_orders_outstanding";
/// Orders sent to remote workers, by queue and kind.
pub const ORDERS: &str = "backlog_server_orders_total";
/// Claimed jobs given back unstarted (undeliverable orders, quiet workers, ended sessions).
pub const GIVEN_BACK: &str = "backlog_server_orders_given_back_total";
/// Fenced writes from workers answered `Recorded`, by what they were and their status.
pub const RECORDED: &str = "backlog_server_recorded_total";
/// Producers' requests, by result (`acknowledged`, `rejected`).
pub const REQUESTS: &str = "backlog_server_requests_total";

pub(crate) fn sessions(producers: usize, workers: usize) {
    metrics::gauge!(SESSIONS, "role" => "producer").set(producers as f64);
    metrics::gauge!(SESSIONS, "role" => "worker").set(workers as f64);
}

pub(crate) fn outstanding(n: u32) {
    metrics::gauge!(ORDERS_OUTSTANDING).set(f64::from(n));
}

pub(crate) fn ordered(queue: &str, kind: &str) {
    metrics::counter!(ORDERS, "queue" => queue.to_owned(), "kind" => kind.to_owned()).increment(1);
}

pub(crate) fn given_back() {
    metrics::counter!(GIVEN_BACK).increment(1);
}

pub(crate) fn recorded(of: Recordable, status: RecordStatus) {
    let of = match of {
        Recordable::Completed => "completed",
        Recordable::Failed => "failed",
        Recordable::Release => "release",
        Recordable::Progress => "progress",
        Recordable::Extend => "extend",
        _ => "other",
    };
    let status = match status {
        RecordStatus::Applied => "applied",
        RecordStatus::AlreadyRecorded => "already_recorded",
        RecordStatus::Stale => "stale",
        _ => "other",
    };
    metrics::counter!(RECORDED, "of" => of, "status" => status).increment(1);
}

pub(crate) fn request(acknowledged: bool) {
    let result = if acknowledged {
        "acknowledged"
    } else {
        "rejected"
    };
    metrics::counter!(REQUESTS, "result" => result).increment(1);
}

/// Counts sessions per role in `roles`.
pub(crate) fn count_sessions<'a>(roles: impl Iterator<Item = &'a Role>) {
    let (mut producers, mut workers) = (0, 0);
    for role in roles {
        match role {
            Role::Worker => workers += 1,
            _ => producers += 1,
        }
    }
    sessions(producers, workers);
}
