//! Typed jobs: the [`JobArgs`] a caller enqueues and the [`Job`] a worker receives.

use std::time::Duration;

use backlog_types::{AttemptError, JobId, JobRow, LeaseToken, Priority};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use tokio_util::sync::CancellationToken;

use crate::context::{JobContext, JobValueError};
use crate::{Backoff, UniqueOpts};

/// The arguments of one kind of job. The kind names the worker that runs it.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Thumbnail {
///     image_id: u64,
///     width: u32,
/// }
///
/// impl backlog::JobArgs for Thumbnail {
///     const KIND: &'static str = "thumbnail";
///
///     fn default_opts() -> backlog::InsertOpts {
///         backlog::InsertOpts::new().queue("media").max_attempts(5)
///     }
/// }
/// ```
pub trait JobArgs: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind stored with the job; it picks the worker. Keep it stable across deploys.
    const KIND: &'static str;

    /// Options applied to every job of this kind; per-job options given at enqueue override
    /// them.
    fn default_opts() -> InsertOpts {
        InsertOpts::default()
    }
}

/// Per-job options at enqueue. Unset fields fall back to the kind's
/// [`JobArgs::default_opts`], then to Backlog's defaults (queue `default`, priority normal,
/// 25 attempts, run now).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsertOpts {
    pub(crate) queue: Option<String>,
    pub(crate) priority: Option<Priority>,
    pub(crate) run_at: Option<DateTime<Utc>>,
    pub(crate) run_after: Option<Duration>,
    pub(crate) max_attempts: Option<i32>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) expires_after: Option<Duration>,
    pub(crate) partition_key: Option<String>,
    pub(crate) unique: Option<UniqueOpts>,
    pub(crate) fingerprint: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) idempotency_window: Option<Duration>,
}

impl InsertOpts {
    /// No options set.
    pub fn new() -> InsertOpts {
        InsertOpts::default()
    }

    /// The queue (validated at enqueue).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// The queue set with [`InsertOpts::queue`], if any (a remote producer sends it along).
    pub fn queue_name(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// The priority; higher runs first.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Run at this time (or as soon as possible after it).
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self.run_after = None;
        self
    }

    /// Run after this delay, counted from the enqueue.
    pub fn run_after(mut self, delay: Duration) -> Self {
        self.run_after = Some(delay);
        self.run_at = None;
        self
    }

    /// Attempts allowed before the job is discarded (at least 1).
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// A JSON object stored with the job.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The backoff between this job's retries, overriding its worker's. Custom functions can
    /// only be set per kind, on the worker.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// How long one attempt of this job may run, overriding its worker's
    /// [`Worker::timeout`](crate::Worker::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Discard the job, instead of starting it, if it has not started by `at`: it ends
    /// `discarded` with the error kind `expired` (Faktory Enterprise's expiring jobs). For work
    /// that is worthless late: a one-time code, a "your ride is here" push. The check is made
    /// when a worker claims the job, against the database's clock.
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self.expires_after = None;
        self
    }

    /// As [`InsertOpts::expires_at`], `after` the enqueue (counted on this process's clock; it
    /// may also be a kind's default in [`JobArgs::default_opts`]).
    pub fn expires_after(mut self, after: Duration) -> Self {
        self.expires_after = Some(after);
        self.expires_at = None;
        self
    }

    /// The job's partition in a fair queue (a tenant, a customer; 1 to 255 bytes). Within a
    /// queue, claims rotate over the keys that have available jobs, so one key's large backlog
    /// cannot starve another key's jobs; with a per-key limit
    /// ([`Client::queue_update`](crate::Client::queue_update), `partition_max_running`), no key
    /// has more jobs running at once across every process. A queue becomes fair when its first
    /// keyed job is inserted. See `docs/flow_control.md`.
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Makes the job unique among live jobs (see [`UniqueOpts`]). Use
    /// [`Client::enqueue_unique`](crate::Client::enqueue_unique) to learn whether the insert was
    /// a duplicate.
    pub fn unique(mut self, unique: UniqueOpts) -> Self {
        self.unique = Some(unique);
        self
    }

    /// A searchable identifier (not unique): list jobs by it with
    /// [`JobListParams::fingerprint`](crate::JobListParams) or `backlog jobs list --fingerprint`.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// The producer's idempotency key (1 to
    /// [`IDEMPOTENCY_KEY_MAX_LEN`](crate::storage::IDEMPOTENCY_KEY_MAX_LEN) bytes of printable
    /// ASCII): while the key is remembered (see [`InsertOpts::idempotency_window`]), enqueueing
    /// again with it inserts nothing and returns the first job's id as a duplicate, even if that
    /// job has since finished and been deleted. Retry an enqueue that failed (in particular with
    /// [`EnqueueError::OutcomeUnknown`](crate::EnqueueError::OutcomeUnknown)) with the same key.
    /// Make one with [`new_idempotency_key`](crate::new_idempotency_key) before the first try
    /// if the request has no natural id. Cannot be combined with [`InsertOpts::unique`]; never
    /// taken from a kind's [`JobArgs::default_opts`].
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// How long the idempotency key is remembered after the insert. Default 24 hours
    /// ([`IDEMPOTENCY_WINDOW_DEFAULT`](crate::storage::IDEMPOTENCY_WINDOW_DEFAULT)); after it the
    /// cleaner forgets the key and it may be used again.
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = Some(window);
        self
    }

    /// `self` with unset fields taken from `defaults`.
    pub(crate) fn or(mut self, defaults: InsertOpts) -> InsertOpts {
        self.queue = self.queue.or(defaults.queue);
        self.priority = self.priority.or(defaults.priority);
        if self.run_at.is_none() && self.run_after.is_none() {
            self.run_at = defaults.run_at;
            self.run_after = defaults.run_after;
        }
        self.max_attempts = self.max_attempts.or(defaults.max_attempts);
        if self.tags.is_empty() {
            self.tags = defaults.tags;
        }
        self.metadata = self.metadata.or(defaults.metadata);
        self.backoff = self.backoff.or(defaults.backoff);
        self.timeout = self.timeout.or(defaults.timeout);
        self.partition_key = self.partition_key.or(defaults.partition_key);
        if self.expires_at.is_none() && self.expires_after.is_none() {
            self.expires_at = defaults.expires_at;
            self.expires_after = defaults.expires_after;
        }
        self.unique = self.unique.or(defaults.unique);
        self.fingerprint = self.fingerprint.or(defaults.fingerprint);
        // The key is per enqueue, so only the window comes from the kind's defaults.
        self.idempotency_window = self.idempotency_window.or(defaults.idempotency_window);
        self
    }
}

/// The job's own timeout (its `timeout_ms` column), if it has one.
pub(crate) fn timeout_of(row: &backlog_types::JobRow) -> Option<Duration> {
    row.timeout_ms
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// A job handed to a worker: its typed arguments and what the database knows about it.
#[derive(Debug, Clone)]
pub struct Job<A> {
    /// The decoded arguments.
    pub args: A,
    /// The job's id.
    pub id: JobId,
    /// This attempt's number, starting at 1 (history: two executions can share a number
    /// after a lost claim; the lease token tells them apart).
    pub attempt: i32,
    /// The token of the claim that started this execution; every write of the execution
    /// (outcome, heartbeat, progress, result) is fenced on it.
    pub lease_token: Option<LeaseToken>,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The queue it came from.
    pub queue: String,
    /// Its priority.
    pub priority: Priority,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it was due to run.
    pub scheduled_at: DateTime<Utc>,
    /// Earlier attempts' errors.
    pub errors: Vec<AttemptError>,
    /// Tags given at enqueue.
    pub tags: Vec<String>,
    /// Metadata given at enqueue.
    pub metadata: serde_json::Value,
    /// Fired when cancellation of this job is requested while it runs.
    cancellation: CancellationToken,
    /// Where results and progress go.
    pub(crate) context: JobContext,
}

impl<A> Job<A> {
    /// Completes when cancellation of this job is requested (by
    /// [`Client::job_cancel`](crate::Client::job_cancel), a bulk cancel or the CLI). Race it
    /// against your work and return (an error, typically) to end the attempt `cancelled`; a
    /// job that ignores it is dropped after [`RunnerConfig::cancel_grace`](crate::RunnerConfig).
    /// Returning `Ok(())` after the request still completes the job: the work was done.
    ///
    /// ```
    /// # use backlog::{Job, JobError};
    /// async fn work(job: Job<()>) -> Result<(), JobError> {
    ///     tokio::select! {
    ///         _ = job.cancelled() => Err(JobError::cancel("stopped on request")),
    ///         _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => Ok(()),
    ///     }
    /// }
    /// ```
    pub async fn cancelled(&self) {
        self.cancellation.cancelled().await
    }

    /// Whether cancellation of this job was requested (for loops that check between steps).
    pub fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }

    /// Records the job's result, stored with the attempt's outcome (in the same write) and
    /// readable through [`Client::job_get`](crate::Client::job_get) as
    /// [`JobRow::result`]. Calling it again replaces the value. A failed attempt's result is
    /// stored too.
    ///
    /// # Errors
    ///
    /// [`JobValueError::TooLarge`] when the serialized value exceeds the runner's
    /// `max_result_bytes` (default 64 KiB): nothing is stored.
    pub fn set_result(&self, value: impl Serialize) -> Result<(), JobValueError> {
        self.context.set_result(value)
    }

    /// Reports progress, any JSON value (by convention `{"percent": 40, "message": "..."}`),
    /// readable through [`Client::job_get`](crate::Client::job_get) as [`JobRow::progress`]
    /// while the job runs and after.
    ///
    /// Cheap to call often: writes happen in the background, at most one per
    /// [`PROGRESS_INTERVAL`](crate::PROGRESS_INTERVAL) per job, the last value winning, and the
    /// latest value is written before the outcome. Each write is fenced: it is dropped once this
    /// attempt no longer holds the job.
    pub fn set_progress(&self, value: impl Serialize) -> Result<(), JobValueError> {
        self.context.set_progress(value)
    }

    /// The jobs this one depends on in its workflow, with their states and the results they
    /// recorded with [`Job::set_result`], by id. Empty for a job outside a workflow (and for
    /// one built by hand in tests).
    ///
    /// ```
    /// # use backlog::{Job, JobError};
    /// async fn work(job: Job<()>) -> Result<(), JobError> {
    ///     let inputs = job.dependency_results().await.map_err(JobError::retry)?;
    ///     let rows: u64 = inputs
    ///         .iter()
    ///         .filter_map(|dep| dep.result.as_ref()?.get("rows")?.as_u64())
    ///         .sum();
    ///     job.set_result(serde_json::json!({ "rows": rows })).map_err(JobError::discard)?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn dependency_results(
        &self,
    ) -> Result<Vec<backlog_storage::DependencyResult>, backlog_storage::Error> {
        self.context.dependency_results().await
    }

    /// A job not attached to any runner (built by hand in tests).
    pub(crate) fn detached(args: A, opts: InsertOpts, cancellation: CancellationToken) -> Job<A> {
        let now = chrono::Utc::now();
        Job {
            args,
            id: 1,
            attempt: 1,
            lease_token: None,
            max_attempts: opts.max_attempts.unwrap_or(25),
            queue: opts.queue.unwrap_or_else(|| "default".to_owned()),
            priority: opts.priority.unwrap_or_default(),
            created_at: now,
            scheduled_at: now,
            errors: Vec::new(),
            tags: opts.tags,
            metadata: opts
                .metadata
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            cancellation,
            context: JobContext::default(),
        }
    }

    pub(crate) fn from_row(
        row: &JobRow,
        args: A,
        cancellation: CancellationToken,
        context: JobContext,
    ) -> Job<A> {
        Job {
            args,
            id: row.id,
            attempt: row.attempt,
            lease_token: row.lease_token,
            max_attempts: row.max_attempts,
            queue: row.queue.clone(),
            priority: Priority(row.priority),
            created_at: row.created_at,
            scheduled_at: row.scheduled_at,
            errors: row.errors.clone(),
            tags: row.tags.clone(),
            metadata: row.metadata.clone(),
            cancellation,
            context,
        }
    }
}
