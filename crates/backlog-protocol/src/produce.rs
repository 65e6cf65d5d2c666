//! Enqueueing: `Request` (one job or a batch), answered by `Acknowledged` or `Rejected`.

use backlog_types::{JobId, JobState, Priority};
use serde::{Deserialize, Serialize};

use crate::{json, Uuid};

/// Enqueue one or more jobs, client to server.
///
/// `request_id` is the client's idempotency key: sending the same `Request` again (after a
/// timeout, a lost reply, a reconnect, another server) never stores its jobs twice; the reply
/// to the repeat lists the same job ids with `duplicate` outcomes. Job *i* of the request is
/// stored under the key `request_id` when the request holds one job, and `request_id/i`
/// otherwise, so a retry must resend the same jobs in the same order. The jobs of one request
/// are stored in one transaction: all or none.
///
/// With `workflow`, the request's jobs form one workflow (dependencies in `JobSpec::after`),
/// keyed as a whole by `request_id`. With `batch`, they join a batch (a new one, created under
/// the key `request_id`, or an open one), which may then be sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Client-chosen, 1 to 128 bytes, unique per logical request (a UUID is a good choice).
    pub request_id: String,
    /// The jobs, 1 to `Welcome::max_batch` (none only with `batch`: open or seal a batch).
    pub jobs: Vec<JobSpec>,
    /// Make the jobs one workflow. Exclusive with `batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowSpec>,
    /// Put the jobs in a batch. Exclusive with `workflow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSpec>,
}

impl Request {
    /// A plain request of `jobs`.
    pub fn new(request_id: impl Into<String>, jobs: Vec<JobSpec>) -> Request {
        Request {
            request_id: request_id.into(),
            jobs,
            workflow: None,
            batch: None,
        }
    }
}

/// The workflow a `Request`'s jobs form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    /// For people, 1 to 255 characters; not unique.
    pub name: String,
}

/// The batch a `Request`'s jobs join: exactly one of `id` and `open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSpec {
    /// Add the jobs to this open batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Create a batch (once per `request_id`) and add the jobs to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<BatchOpen>,
    /// Seal the batch after adding: no more members; its callback fires once all finished.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seal: bool,
}

/// A batch to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchOpen {
    /// For people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Make it a member of this open batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<i64>,
    /// The job enqueued (exactly once) when every member has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
}

/// A batch's callback job. Its args (a JSON object) get the batch's counts under `"batch"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackSpec {
    /// The job kind.
    pub kind: String,
    /// The arguments: a JSON object.
    #[serde(serialize_with = "json::serialize", deserialize_with = "json::value")]
    pub args: serde_json::Value,
    /// The queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Higher runs first (an integer, or `"high"`, `"normal"`, `"low"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "priority_wire"
    )]
    pub priority: Option<Priority>,
    /// Attempts allowed, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// `"complete"` (default: whatever the outcome) or `"success"` (only if every member
    /// succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<CallbackOn>,
}

/// When a batch's callback is enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallbackOn {
    /// Only if every member succeeded.
    Success,
    /// Whatever the outcome.
    Complete,
}

/// A job of the same workflow request that a job waits for: its index in `Request::jobs`,
/// or the index with what to do if it fails for good or is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dependency {
    /// Wait for this job; cancel the dependant if it fails for good or is cancelled.
    Index(u32),
    /// Wait for this job, with a failure policy.
    With {
        /// The index of the job depended on.
        job: u32,
        /// `"cancel"` (default) or `"run"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_failure: Option<OnDependencyFailure>,
    },
}

impl Dependency {
    /// The index of the job depended on.
    pub fn job(self) -> u32 {
        match self {
            Dependency::Index(job) | Dependency::With { job, .. } => job,
        }
    }
}

/// What happens to a dependant when a job it waits for fails for good or is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnDependencyFailure {
    /// Cancel the dependant (the default).
    Cancel,
    /// Run it anyway.
    Run,
}

/// One job to enqueue, with every option of the library's `InsertOpts`. Unset options take
/// the server's defaults for the kind, then Backlog's (queue `default`, priority normal,
/// 25 attempts, run now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job kind, which picks the worker.
    pub kind: String,
    /// The arguments: any JSON value.
    #[serde(serialize_with = "json::serialize", deserialize_with = "json::value")]
    pub args: serde_json::Value,
    /// The queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Higher runs first. On the wire an integer, or one of the names `"high"` (10),
    /// `"normal"` (0), `"low"` (-10), which decode to those numbers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "priority_wire"
    )]
    pub priority: Option<Priority>,
    /// Run at this time: milliseconds since the Unix epoch, UTC. Exclusive with `run_after_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at_ms: Option<i64>,
    /// Run after this delay, counted on the database's clock when the job is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_after_ms: Option<u64>,
    /// Attempts allowed, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// How long one attempt may run (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Backoff between retries, overriding the kind's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Discard the job instead of starting it after this time: milliseconds since the Unix
    /// epoch, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The fair-queue partition (a tenant, a customer), 1 to 255 bytes: claims of the queue
    /// rotate over the keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Uniqueness among live jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<Unique>,
    /// Labels for searching.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A JSON object of the producer's own.
    #[serde(
        default,
        serialize_with = "json::serialize_option",
        deserialize_with = "json::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<serde_json::Value>,
    /// A searchable, non-unique identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// jobq's submitter name, kept queryable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// jobq's asset UUID, kept queryable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    /// Workflow requests only: the jobs of this request that must complete first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<Dependency>,
}

impl JobSpec {
    /// A job of `kind` with `args` and no options set.
    pub fn new(kind: impl Into<String>, args: serde_json::Value) -> JobSpec {
        JobSpec {
            kind: kind.into(),
            args,
            queue: None,
            priority: None,
            run_at_ms: None,
            run_after_ms: None,
            max_attempts: None,
            timeout_ms: None,
            backoff: None,
            expires_at_ms: None,
            partition_key: None,
            unique: None,
            tags: Vec::new(),
            metadata: None,
            fingerprint: None,
            username: None,
            uuid: None,
            after: Vec::new(),
        }
    }
}

/// The delay before retry *n*, as the library's `Backoff` (custom functions exist only in
/// Rust workers, so they are not on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Backoff {
    /// `base * 2^(n-1)`, capped at `max`, spread by ± `jitter_permille` / 1000.
    Exponential {
        /// The first delay (milliseconds).
        base_ms: u64,
        /// The longest delay (milliseconds).
        max_ms: u64,
        /// Random spread, in thousandths of the delay (0 to 1000).
        jitter_permille: u16,
    },
    /// `step * n`, capped at `max`.
    Linear {
        /// Added per attempt (milliseconds).
        step_ms: u64,
        /// The longest delay (milliseconds).
        max_ms: u64,
    },
    /// Always the same delay.
    Fixed {
        /// The delay (milliseconds).
        delay_ms: u64,
    },
}

/// The library's `UniqueOpts` on the wire. Absent fields take the library's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unique {
    /// Which args count: `"all"` (default), `"ignore"`, or a list of top-level field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_args: Option<UniqueArgs>,
    /// Whether the queue is part of the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_queue: Option<bool>,
    /// At most one job per period of this length (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
    /// The states in which a job holds its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<JobState>>,
    /// What a duplicate insert does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
}

/// Which args make a job unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UniqueArgs {
    /// `"all"` or `"ignore"`.
    Named(UniqueArgsName),
    /// Only these top-level fields.
    Fields(Vec<String>),
}

/// The named choices of [`UniqueArgs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueArgsName {
    /// All of the args.
    All,
    /// None of the args.
    Ignore,
}

/// What an insert does when a live job holds its unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnConflict {
    /// Insert nothing; report the existing job.
    Skip,
    /// Move the existing job (if it has not started) to the new args and run time.
    Replace,
}

/// The server stored the request's jobs (sent only after the commit), server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The request answered.
    pub request_id: String,
    /// One entry per job, in the request's order.
    pub jobs: Vec<Enqueued>,
    /// The workflow the jobs form (workflow requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<i64>,
    /// The batch the jobs joined (batch requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<i64>,
}

/// What became of one job of a `Request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    /// The job's id (the existing job's, for a duplicate or a unique conflict).
    pub id: JobId,
    /// Whether this request id was seen before: nothing new was stored, `id` is the job the
    /// first delivery stored.
    pub duplicate: bool,
    /// Whether a live job already held the job's unique key: nothing new was stored, `id` is
    /// that job.
    pub unique_conflict: bool,
}

/// The server refused a `Request`, server to client. Nothing of it was stored unless `code`
/// is `outcome_unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The request answered.
    pub request_id: String,
    /// Why.
    pub code: RejectCode,
    /// What was wrong and what to do, for people.
    pub message: String,
    /// The job of the request at fault, when one is (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// For `overloaded` and `unavailable`: retry no sooner than this (milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// Why a `Request` was refused, and whether sending it again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectCode {
    /// An option is invalid (kind or queue name, priority, attempts, run time, unique
    /// options). Fix the request; resending it fails again.
    Invalid,
    /// The args (or metadata) are over the server's size limit.
    TooLarge,
    /// This session may not enqueue (its role or token does not allow it).
    Unauthorized,
    /// Backpressure: the server has too many enqueues in flight. Nothing was stored; resend
    /// after `retry_after_ms`.
    Overloaded,
    /// The database could not be reached before anything was written. Nothing was stored;
    /// resend later.
    Unavailable,
    /// The connection to the database failed during the commit: the jobs may or may not be
    /// stored. Resend with the same `request_id`: the answer then tells which.
    OutcomeUnknown,
}

impl RejectCode {
    /// Whether resending the same request (same `request_id`) can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            RejectCode::Overloaded | RejectCode::Unavailable | RejectCode::OutcomeUnknown
        )
    }
}

/// Priorities as integers on the wire, accepting jobq's names when decoding.
mod priority_wire {
    use std::fmt;

    use backlog_types::Priority;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        priority: &Option<Priority>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match priority {
            Some(p) => serializer.serialize_i16(p.0),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Priority>, D::Error> {
        deserializer.deserialize_any(PriorityVisitor)
    }

    /// `null` is an absent priority, as for every optional field.
    struct PriorityVisitor;

    impl Visitor<'_> for PriorityVisitor {
        type Value = Option<Priority>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer from -32768 to 32767, or \"high\", \"normal\" or \"low\"")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            i16::try_from(v)
                .map(|p| Some(Priority(p)))
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i16::try_from(v)
                .map(|p| Some(Priority(p)))
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "high" => Ok(Some(Priority::HIGH)),
                "normal" => Ok(Some(Priority::NORMAL)),
                "low" => Ok(Some(Priority::LOW)),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
    }
}
