//! Parameter and result structs of the [`Storage`](crate::Storage) methods.

use std::time::Duration;

use backlog_types::{JobId, JobState, LeaseToken};
use chrono::{DateTime, Utc};

use crate::{ArgsJson, IdempotencyInsert, MigrationDirection, UniqueInsert};

/// Parameters of [`Storage::migration_run`](crate::Storage::migration_run).
#[derive(Debug, Clone)]
pub struct MigrationRunParams {
    /// Up or down.
    pub direction: MigrationDirection,
    /// Up: the last version to apply (default: all). Down: the version to go back to, which
    /// stays applied (default: one step back).
    pub target: Option<u32>,
}

/// One job to insert, already validated and serialized by the client.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInsert {
    /// Queue name (validated by the client).
    pub queue: String,
    /// Job kind (validated by the client).
    pub kind: String,
    /// Arguments as JSON text, serialized once by the client.
    pub args: ArgsJson,
    /// Higher runs first.
    pub priority: i16,
    /// Attempts allowed, at least 1.
    pub max_attempts: i32,
    /// When to run; `None` means now (database clock), or `run_after` from now.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// With no `scheduled_at`: run this long after the insert, counted on the database's clock
    /// (PostgreSQL's `now()`, the SQLite writer's clock), so a client with a skewed clock still
    /// schedules correctly.
    pub run_after: Option<Duration>,
    /// Labels.
    pub tags: Vec<String>,
    /// A JSON object of the user's own.
    pub metadata: serde_json::Value,
    /// Uniqueness among live jobs (`None`: not unique).
    pub unique: Option<UniqueInsert>,
    /// A searchable, non-unique identifier.
    pub fingerprint: Option<String>,
    /// The producer's idempotency key (`None`: none). Cannot be combined with `unique`.
    pub idempotency: Option<IdempotencyInsert>,
    /// Longest one attempt may run (`None`: the worker's or the kind's limit). Stored in whole
    /// milliseconds, at least 1.
    pub timeout: Option<Duration>,
    /// The job's own backoff, as the `backlog` crate serialises it (`None`: the worker's).
    pub backoff: Option<serde_json::Value>,
    /// Discard the job instead of starting it after this time (`None`: never expires).
    pub expires_at: Option<DateTime<Utc>>,
    /// The fair-queue partition, 1 to 255 bytes (`None`: none). A queue holding keyed jobs
    /// becomes fair: its claims rotate over the keys.
    pub partition_key: Option<String>,
}

impl JobInsert {
    /// A job with default options: priority 0, 25 attempts, runnable now, no tags.
    pub fn new(
        queue: impl Into<String>,
        kind: impl Into<String>,
        args: serde_json::Value,
    ) -> JobInsert {
        JobInsert {
            queue: queue.into(),
            kind: kind.into(),
            args: ArgsJson::from(args),
            priority: 0,
            max_attempts: 25,
            scheduled_at: None,
            run_after: None,
            tags: Vec::new(),
            metadata: serde_json::Value::Object(Default::default()),
            unique: None,
            fingerprint: None,
            idempotency: None,
            timeout: None,
            backoff: None,
            expires_at: None,
            partition_key: None,
        }
    }

    /// [`JobInsert::timeout`] in whole milliseconds (at least 1), as stored.
    pub fn timeout_ms(&self) -> Option<i64> {
        self.timeout
            .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX).max(1))
    }

    /// Whether the job sets nothing but its queue, kind, args, priority, attempts and run
    /// time: no tags, no metadata (an empty object), no unique or idempotency key, no
    /// fingerprint, timeout, backoff, expiry or partition key. Backends insert such jobs with
    /// shorter statements that leave every other column to its default (issue #9), so a new
    /// field must be classified here: the exhaustive pattern makes it fail to compile until
    /// it is.
    pub fn is_plain(&self) -> bool {
        let JobInsert {
            queue: _,
            kind: _,
            args: _,
            priority: _,
            max_attempts: _,
            scheduled_at: _,
            run_after: _,
            tags,
            metadata,
            unique,
            fingerprint,
            idempotency,
            timeout,
            backoff,
            expires_at,
            partition_key,
        } = self;
        tags.is_empty()
            && metadata.as_object().is_some_and(|m| m.is_empty())
            && unique.is_none()
            && fingerprint.is_none()
            && idempotency.is_none()
            && timeout.is_none()
            && backoff.is_none()
            && expires_at.is_none()
            && partition_key.is_none()
    }
}

/// Parameters of [`Storage::job_insert_many`](crate::Storage::job_insert_many).
#[derive(Debug, Clone, Default)]
pub struct JobInsertManyParams {
    /// The jobs, in the order their ids are returned.
    pub jobs: Vec<JobInsert>,
}

/// Parameters of [`Storage::job_fetch_available`](crate::Storage::job_fetch_available).
#[derive(Debug, Clone)]
pub struct JobFetchAvailableParams {
    /// The queue to fetch from.
    pub queue: String,
    /// At most this many jobs.
    pub max: u32,
    /// Recorded in each job's `attempted_by`.
    pub worker_id: String,
    /// How long the lease lasts before a heartbeat must renew it.
    pub lease: Duration,
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
    /// Only jobs of these kinds are claimed; empty claims any kind. The server passes the kinds
    /// its connected workers announced, so it never claims a job it has nobody to send to.
    pub kinds: Vec<String>,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Succeeded: `completed`.
    Completed,
    /// Failed and will run again after `delay`: `retryable`. A zero delay keeps the job's
    /// `scheduled_at`: it is due at once and keeps its place in the run order (how the runtime
    /// hands back an attempt interrupted by shutdown or a lost lease).
    Retry {
        /// The failure, appended to the job's errors.
        failure: Failure,
        /// Backoff before the next attempt.
        delay: Duration,
    },
    /// Failed for good (attempts exhausted, or discarded on purpose): `discarded`.
    Discard {
        /// The failure, appended to the job's errors.
        failure: Failure,
    },
    /// Cancelled: `cancelled`.
    Cancel {
        /// Why, appended to the job's errors.
        failure: Failure,
    },
    /// Run again after `delay` without spending an attempt: `scheduled`. A zero delay keeps the
    /// job's `scheduled_at` (and its place in the run order), as for [`JobOutcome::Retry`].
    Snooze {
        /// How long to wait.
        delay: Duration,
    },
}

impl JobOutcome {
    /// The state the job moves to: the one mapping every backend and the runtime use.
    pub fn state(&self) -> JobState {
        match self {
            JobOutcome::Completed => JobState::Completed,
            JobOutcome::Retry { .. } => JobState::Retryable,
            JobOutcome::Discard { .. } => JobState::Discarded,
            JobOutcome::Cancel { .. } => JobState::Cancelled,
            JobOutcome::Snooze { .. } => JobState::Scheduled,
        }
    }

    /// How long until the job is due again (retries and snoozes).
    pub fn delay(&self) -> Option<Duration> {
        match self {
            JobOutcome::Retry { delay, .. } | JobOutcome::Snooze { delay } => Some(*delay),
            _ => None,
        }
    }

    /// The failure appended to the job's errors, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            JobOutcome::Retry { failure, .. }
            | JobOutcome::Discard { failure }
            | JobOutcome::Cancel { failure } => Some(failure),
            JobOutcome::Completed | JobOutcome::Snooze { .. } => None,
        }
    }

    /// The failure, taken out.
    pub fn into_failure(self) -> Option<Failure> {
        match self {
            JobOutcome::Retry { failure, .. }
            | JobOutcome::Discard { failure }
            | JobOutcome::Cancel { failure } => Some(failure),
            JobOutcome::Completed | JobOutcome::Snooze { .. } => None,
        }
    }

    /// Whether the attempt is given back rather than spent (a snooze).
    pub fn gives_attempt_back(&self) -> bool {
        matches!(self, JobOutcome::Snooze { .. })
    }
}

/// A failed attempt's description; the backend adds the attempt number and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error or panic message.
    pub message: String,
    /// Whether it was a panic.
    pub panicked: bool,
    /// The error's type, if the worker named one (stored apart from the message).
    pub kind: Option<String>,
    /// Where it happened, if the worker sent a backtrace.
    pub backtrace: Option<String>,
}

impl Failure {
    /// A plain (non-panic) failure.
    pub fn error(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            panicked: false,
            kind: None,
            backtrace: None,
        }
    }

    /// A panic's failure.
    pub fn panic(message: impl Into<String>) -> Failure {
        Failure {
            panicked: true,
            ..Failure::error(message)
        }
    }

    /// This failure with its error type named.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Failure {
        self.kind = Some(kind.into());
        self
    }
}

/// The end of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFinish {
    /// The job.
    pub id: JobId,
    /// The execution that ended (the token of its claim); the write is fenced on it.
    pub lease_token: LeaseToken,
    /// What happened.
    pub outcome: JobOutcome,
    /// How long the attempt ran.
    pub duration: Duration,
    /// A result to store with the outcome (`None` keeps the stored one). The runtime enforces
    /// its size cap before it gets here.
    pub result: Option<serde_json::Value>,
}

/// Parameters of [`Storage::job_finish_many`](crate::Storage::job_finish_many).
#[derive(Debug, Clone, Default)]
pub struct JobFinishManyParams {
    /// The attempts that ended.
    pub jobs: Vec<JobFinish>,
}

/// Parameters of [`Storage::job_heartbeat_many`](crate::Storage::job_heartbeat_many).
#[derive(Debug, Clone)]
pub struct JobHeartbeatManyParams {
    /// `(id, lease token)` of each running job to renew.
    pub jobs: Vec<(JobId, LeaseToken)>,
    /// The new lease, counted from now.
    pub lease: Duration,
}

/// Result of [`Storage::job_heartbeat_many`](crate::Storage::job_heartbeat_many).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobHeartbeatResult {
    /// Jobs this execution no longer holds: rescued, or claimed again by another execution
    /// (after a lost claim). A job whose outcome this same execution already recorded (its
    /// completion raced the heartbeat) is not lost and is not listed.
    pub lost: Vec<JobId>,
    /// Jobs still held whose cancellation was requested: the fallback when the wake-up
    /// ([`Event::CancelRequested`]) was missed.
    pub cancel_requested: Vec<JobId>,
}

/// Parameters of [`Storage::job_schedule`](crate::Storage::job_schedule).
#[derive(Debug, Clone)]
pub struct JobScheduleParams {
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
    /// At most this many jobs per call.
    pub max: u32,
}

/// Parameters of [`Storage::job_rescue`](crate::Storage::job_rescue).
#[derive(Debug, Clone)]
pub struct JobRescueParams {
    /// Overrides the database clock (tests).
    pub now: Option<DateTime<Utc>>,
    /// At most this many jobs per call.
    pub max: u32,
    /// A job rescued this many times (counting this rescue) is a poison job (it keeps killing
    /// or stalling its worker): it is discarded instead of retried. 0 disables the check.
    pub poison_threshold: i32,
}

/// A number of jobs in one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    /// The queue.
    pub queue: String,
    /// How many.
    pub count: u64,
}

/// A number of jobs in one queue and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: JobState,
    /// How many.
    pub count: u64,
}

/// Parameters of [`Storage::job_list`](crate::Storage::job_list).
#[derive(Debug, Clone)]
pub struct JobListParams {
    /// Only these states (all when empty).
    pub states: Vec<JobState>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs with an id below this one (keyset pagination, newest first).
    pub before_id: Option<JobId>,
    /// At most this many.
    pub limit: u32,
    /// Only jobs with this fingerprint.
    pub fingerprint: Option<String>,
}

impl Default for JobListParams {
    fn default() -> Self {
        JobListParams {
            states: Vec::new(),
            queue: None,
            kind: None,
            before_id: None,
            limit: 100,
            fingerprint: None,
        }
    }
}

/// Parameters of methods acting on jobs by id.
#[derive(Debug, Clone, Default)]
pub struct JobIdsParams {
    /// The jobs.
    pub ids: Vec<JobId>,
}

/// Parameters of [`Storage::job_delete_finalized`](crate::Storage::job_delete_finalized).
#[derive(Debug, Clone)]
pub struct JobDeleteFinalizedParams {
    /// Delete `completed` jobs finalized before this time.
    pub completed_before: Option<DateTime<Utc>>,
    /// Delete `cancelled` jobs finalized before this time.
    pub cancelled_before: Option<DateTime<Utc>>,
    /// Delete `discarded` jobs finalized before this time.
    pub discarded_before: Option<DateTime<Utc>>,
    /// At most this many per call.
    pub max: u32,
    /// Copy each deleted job into `backlog_job_archive` first (in the same transaction).
    pub archive: bool,
}

impl JobDeleteFinalizedParams {
    /// The latest of the three cutoffs (`None` when none is set). No job finalized at or after
    /// it is due, so both backends read their finalized-time index only up to it: without that
    /// bound the cleaner walked the whole index, every finished job still inside its retention,
    /// on every pass (seconds beside ten million, each 30 s).
    pub fn latest_cutoff(&self) -> Option<DateTime<Utc>> {
        [
            self.completed_before,
            self.cancelled_before,
            self.discarded_before,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// A wake-up signal from the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A queue got available jobs.
    JobAvailable {
        /// The queue.
        queue: String,
    },
    /// Signals may have been missed (listener reconnected): poll everything once.
    Resync,
    /// Cancellation of these running jobs was requested; their workers should stop them.
    CancelRequested {
        /// The jobs.
        ids: Vec<JobId>,
    },
    /// A paused queue was resumed: its workers should fetch at once.
    QueueResumed {
        /// The queue.
        queue: String,
    },
    /// The holder of a leader lease resigned: followers should try to take it now rather than
    /// wait for it to expire.
    LeaderResigned {
        /// The lease's name.
        name: String,
    },
    /// A periodic job schedule was added, changed or removed.
    CronChanged,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OnConflict;

    #[test]
    fn the_cleaners_bound_is_the_latest_cutoff_set() {
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        let mut params = JobDeleteFinalizedParams {
            completed_before: None,
            cancelled_before: None,
            discarded_before: None,
            max: 10,
            archive: false,
        };
        assert_eq!(params.latest_cutoff(), None);
        params.discarded_before = Some(now - day * 7);
        assert_eq!(params.latest_cutoff(), Some(now - day * 7));
        params.completed_before = Some(now - day);
        params.cancelled_before = Some(now - day * 2);
        assert_eq!(params.latest_cutoff(), Some(now - day));
    }

    #[test]
    fn a_job_is_plain_until_it_sets_any_option_beyond_when_and_how_often() {
        let mut plain = JobInsert::new("q", "k", serde_json::json!({"a": 1}));
        plain.priority = 5;
        plain.max_attempts = 2;
        plain.run_after = Some(Duration::from_secs(1));
        plain.scheduled_at = Some(Utc::now());
        assert!(plain.is_plain());
        let options: [fn(&mut JobInsert); 10] = [
            |j| j.tags = vec!["t".into()],
            |j| j.metadata = serde_json::json!({"m": 1}),
            |j| j.metadata = serde_json::Value::Null,
            |j| {
                j.unique = Some(UniqueInsert {
                    key: vec![1],
                    states: 1,
                    on_conflict: OnConflict::Skip,
                })
            },
            |j| j.fingerprint = Some("f".into()),
            |j| {
                j.idempotency = Some(IdempotencyInsert {
                    key: "i".into(),
                    window: Duration::from_secs(1),
                    now: None,
                })
            },
            |j| j.timeout = Some(Duration::from_secs(1)),
            |j| j.backoff = Some(serde_json::json!({"fixed_ms": 1})),
            |j| j.expires_at = Some(Utc::now()),
            |j| j.partition_key = Some("p".into()),
        ];
        for (i, option) in options.iter().enumerate() {
            let mut job = plain.clone();
            option(&mut job);
            assert!(!job.is_plain(), "option {i} left the job plain");
        }
    }
}
