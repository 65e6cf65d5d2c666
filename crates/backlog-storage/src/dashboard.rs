//! Parameter and result types of the methods behind the HTTP API and dashboard: the job
//! search, throughput history, queue latency and the worker registry.

use backlog_types::{JobId, JobState};
use chrono::{DateTime, Utc};

/// A JSON value a job's `args` or `metadata` must hold at a path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonMatch {
    /// Object keys from the root, e.g. `["user", "email"]` for `args.user.email`. Never empty.
    pub path: Vec<String>,
    /// The value expected there (compared as JSON: `5` matches the number, `"5"` the string).
    pub value: serde_json::Value,
}

impl JsonMatch {
    /// Reads `path` (dot-separated object keys: `user.email`) and `value` (read as JSON when it
    /// parses as a number, `true`, `false`, `null` or a quoted string, else as a plain string).
    /// The error says what a valid path looks like.
    pub fn parse(path: &str, value: &str) -> Result<JsonMatch, String> {
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err("a JSON path is dot-separated object keys, e.g. user.id=42".into());
        }
        let value = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(v) if !v.is_object() && !v.is_array() => v,
            _ => serde_json::Value::String(value.to_owned()),
        };
        Ok(JsonMatch { path, value })
    }

    /// The path as a SQLite JSON path: `$."user"."email"` (keys quoted, `"` and `\` escaped).
    pub fn sqlite_path(&self) -> String {
        let mut out = String::from("$");
        for key in &self.path {
            out.push_str(".\"");
            for c in key.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }
}

/// Parameters of [`Storage::job_search`](crate::Storage::job_search): every criterion set must
/// hold; an empty or `None` criterion selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSearchParams {
    /// Only these jobs.
    pub ids: Vec<JobId>,
    /// Only these states.
    pub states: Vec<JobState>,
    /// Only these queues.
    pub queues: Vec<String>,
    /// Only these kinds.
    pub kinds: Vec<String>,
    /// Only this priority.
    pub priority: Option<i16>,
    /// Only jobs carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only jobs with this fingerprint.
    pub fingerprint: Option<String>,
    /// Only jobs created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Only jobs whose args hold this value at this path.
    pub args: Option<JsonMatch>,
    /// Only jobs whose metadata holds this value at this path.
    pub metadata: Option<JsonMatch>,
    /// Only jobs with an id below this one (keyset pagination, newest first).
    pub before_id: Option<JobId>,
    /// At most this many (0 is treated as 1).
    pub limit: u32,
}

/// Parameters of [`Storage::job_throughput`](crate::Storage::job_throughput).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobThroughputParams {
    /// Count jobs finalized at or after this time.
    pub since: DateTime<Utc>,
}

/// How many jobs reached a final state during one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputBucket {
    /// The minute's start (UTC, seconds zero).
    pub minute: DateTime<Utc>,
    /// `completed`, `cancelled` or `discarded`.
    pub state: JobState,
    /// How many.
    pub count: u64,
}

/// The oldest available job of a queue: how long work waits there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLatency {
    /// The queue.
    pub queue: String,
    /// The earliest `scheduled_at` of its available jobs.
    pub oldest_available_at: DateTime<Utc>,
}

/// A worker process as it reports itself on every heartbeat
/// ([`Storage::worker_heartbeat`](crate::Storage::worker_heartbeat)).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerHeartbeatParams {
    /// The worker's id, unique per process run.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// The kinds it can run.
    pub kinds: Vec<String>,
    /// Queues it fetches from, with how many jobs of each it runs at once.
    pub queues: Vec<(String, u32)>,
    /// Jobs it runs at once, over every queue.
    pub capacity: u32,
    /// Jobs it holds now.
    pub in_flight: u32,
    /// `in_process` for runners embedded in an application; remote workers use their own.
    pub origin: String,
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
}

/// A registered worker, as listed by [`Storage::worker_list`](crate::Storage::worker_list).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// What it last reported.
    pub report: WorkerHeartbeatParams,
    /// Its first heartbeat.
    pub started_at: DateTime<Utc>,
    /// Its latest heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// Parameters of [`Storage::worker_list`](crate::Storage::worker_list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerListParams {
    /// Only workers whose latest heartbeat is at or after this time.
    pub seen_since: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_quote_keys() {
        let m = JsonMatch {
            path: vec!["user".into(), "a\"b".into()],
            value: serde_json::Value::Null,
        };
        assert_eq!(m.sqlite_path(), r#"$."user"."a\"b""#);
    }
}
