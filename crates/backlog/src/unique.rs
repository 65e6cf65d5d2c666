//! Unique jobs: the options a caller picks ([`UniqueOpts`]) and the key the client derives from
//! them. The database only sees the key's hash and the state mask; see
//! `docs/cancellation_and_uniqueness.md`.

use std::time::Duration;

use backlog_storage::{OnConflict, UniqueInsert};
use backlog_types::JobState;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Which part of the args makes a job unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UniqueArgs {
    /// All of the args (object keys in any order are the same args).
    #[default]
    All,
    /// Only these top-level fields of the args object (a missing field counts as `null`).
    Fields(Vec<String>),
    /// None: the kind (and queue, period, if chosen) alone.
    Ignore,
}

/// Makes a job unique among live jobs: while a job with the same key is in one of `states`,
/// inserting another does nothing (or moves the existing one, see [`OnConflict`]).
///
/// ```
/// use std::time::Duration;
/// use backlog::{InsertOpts, OnConflict, UniqueArgs, UniqueOpts};
///
/// // At most one "sync account 7" per hour, whatever other fields its args carry.
/// let opts = InsertOpts::new().unique(UniqueOpts {
///     by_args: UniqueArgs::Fields(vec!["account_id".into()]),
///     period: Some(Duration::from_secs(3600)),
///     ..UniqueOpts::default()
/// });
/// // Debounce: a newer enqueue moves the pending job to its args and run time.
/// let debounced = InsertOpts::new()
///     .run_after(Duration::from_secs(30))
///     .unique(UniqueOpts { on_conflict: OnConflict::Replace, ..UniqueOpts::default() });
/// # let _ = (opts, debounced);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueOpts {
    /// Which args count. Default: all of them.
    pub by_args: UniqueArgs,
    /// Whether the queue is part of the key (the same job on two queues is then two jobs).
    /// Default: false.
    pub by_queue: bool,
    /// Adds the time bucket `floor(run time / period)` to the key: at most one job per period.
    /// The run time is the job's `run_at` (or now plus `run_after`), on this process's clock:
    /// the key is hashed here, so a skewed client clock shifts the bucket boundaries by its
    /// skew. Default: none.
    pub period: Option<Duration>,
    /// The states in which a job holds its key. Default: available, scheduled, running and
    /// retryable (a finished job no longer blocks a new one).
    pub states: Vec<JobState>,
    /// What an insert does when the key is held. Default: [`OnConflict::Skip`].
    pub on_conflict: OnConflict,
}

impl Default for UniqueOpts {
    fn default() -> Self {
        UniqueOpts {
            by_args: UniqueArgs::All,
            by_queue: false,
            period: None,
            states: vec![
                JobState::Available,
                JobState::Scheduled,
                JobState::Running,
                JobState::Retryable,
            ],
            on_conflict: OnConflict::Skip,
        }
    }
}

impl UniqueOpts {
    /// The key and mask for one job. `Err` names an invalid option.
    pub(crate) fn to_insert(
        &self,
        kind: &str,
        queue: &str,
        args: &serde_json::Value,
        run_at: DateTime<Utc>,
    ) -> Result<UniqueInsert, String> {
        if self.states.is_empty() {
            return Err("unique states must not be empty".into());
        }
        let mut hasher = Sha256::new();
        // Each part is tagged and length-prefixed, so that no two choices collide.
        let mut part = |tag: &str, bytes: &[u8]| {
            hasher.update(tag.as_bytes());
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        part("kind", kind.as_bytes());
        match &self.by_args {
            UniqueArgs::All => part("args", canonical(args).as_bytes()),
            UniqueArgs::Fields(fields) => {
                let mut fields: Vec<&String> = fields.iter().collect();
                fields.sort();
                fields.dedup();
                for field in fields {
                    let value = args.get(field).unwrap_or(&serde_json::Value::Null);
                    part("field", field.as_bytes());
                    part("value", canonical(value).as_bytes());
                }
            }
            UniqueArgs::Ignore => {}
        }
        if self.by_queue {
            part("queue", queue.as_bytes());
        }
        if let Some(period) = self.period {
            let period_us = i64::try_from(period.as_micros()).unwrap_or(i64::MAX);
            if period_us <= 0 {
                return Err("unique period must be at least one microsecond".into());
            }
            let bucket = run_at.timestamp_micros().div_euclid(period_us);
            part("period", &period_us.to_be_bytes());
            part("bucket", &bucket.to_be_bytes());
        }
        let mut states = self.states.clone();
        states.sort();
        states.dedup();
        for state in &states {
            part("state", state.as_str().as_bytes());
        }
        Ok(UniqueInsert {
            key: hasher.finalize().to_vec(),
            states: JobState::mask(&states),
            on_conflict: self.on_conflict,
        })
    }
}

/// JSON with object keys sorted at every level, so that equal args hash equally whatever the
/// key order (serde_json may preserve insertion order when a dependency enables it).
fn canonical(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(opts: &UniqueOpts, queue: &str, args: serde_json::Value, at: i64) -> Vec<u8> {
        let at = DateTime::from_timestamp(at, 0).unwrap_or_default();
        opts.to_insert("k", queue, &args, at)
            .map(|u| u.key)
            .unwrap_or_default()
    }

    #[test]
    fn keys() {
        let all = UniqueOpts::default();
        assert_eq!(
            key(&all, "a", json!({"x": 1, "y": 2}), 0),
            key(&all, "b", json!({"y": 2, "x": 1}), 99)
        );
        assert_ne!(
            key(&all, "a", json!({"x": 1}), 0),
            key(&all, "a", json!({"x": 2}), 0)
        );
        let fields = UniqueOpts {
            by_args: UniqueArgs::Fields(vec!["x".into()]),
            by_queue: true,
            ..UniqueOpts::default()
        };
        assert_eq!(
            key(&fields, "a", json!({"x": 1, "y": 2}), 0),
            key(&fields, "a", json!({"x": 1, "y": 3}), 0)
        );
        assert_ne!(
            key(&fields, "a", json!({"x": 1}), 0),
            key(&fields, "b", json!({"x": 1}), 0)
        );
        let hourly = UniqueOpts {
            period: Some(Duration::from_secs(3600)),
            ..UniqueOpts::default()
        };
        assert_eq!(
            key(&hourly, "a", json!({}), 3600),
            key(&hourly, "a", json!({}), 7199)
        );
        assert_ne!(
            key(&hourly, "a", json!({}), 3599),
            key(&hourly, "a", json!({}), 3600)
        );
    }
}
