//! The [`Client`]: enqueue jobs, read them back, cancel and retry them.

mod cancel;
mod cron;
mod many;
#[cfg(feature = "postgres")]
mod postgres;
mod queues;
#[cfg(feature = "sqlite")]
mod sqlite;
mod unfinished;
mod workflow;

use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{
    ArgsJson, JobFetchAvailableParams, JobIdsParams, JobInsert, JobInsertManyParams,
    JobInsertResult, JobListParams, Storage,
};
use backlog_types::{validate_kind, JobId, JobRow, Priority, QueueName};

use crate::backoff::StoredBackoff;
use crate::{EnqueueError, Error, InsertOpts, InsertOutcome, JobArgs};

pub use self::cancel::Reschedule;
#[cfg(feature = "postgres")]
pub use self::postgres::PgClient;
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteClient;
pub use self::unfinished::Unfinished;

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest serialized args accepted, in bytes. Default 1 MiB.
    pub max_args_bytes: usize,
    /// Attempts allowed when neither the job nor its kind says. Default 25.
    pub default_max_attempts: i32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_args_bytes: 1024 * 1024,
            default_max_attempts: 25,
        }
    }
}

/// Enqueues and inspects jobs. Cheap to clone; share one per process.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use backlog::{Client, InsertOpts, JobArgs, Priority};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Resize { image: String }
/// impl JobArgs for Resize { const KIND: &'static str = "resize"; }
///
/// let storage = backlog::sqlite::SqliteStorage::open("backlog.sqlite3", Default::default()).await?;
/// let client = Client::new(storage);
/// let id = client.enqueue(Resize { image: "cat.png".into() }).await?;
/// let urgent = InsertOpts::new().priority(Priority::HIGH).queue("media");
/// client.enqueue_with(Resize { image: "dog.png".into() }, urgent).await?;
/// let ids = client.enqueue_many((0..1000).map(|i| Resize { image: format!("{i}.png") })).await?;
/// # let _ = (id, ids); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    storage: Arc<dyn Storage>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("backend", &self.storage.backend_name())
            .field("config", &self.config)
            .finish()
    }
}

impl Client {
    /// A client with default settings, over a backend by value, an `Arc` of one, or an
    /// `Arc<dyn Storage>` (see [`IntoStorage`](crate::IntoStorage)).
    pub fn new(storage: impl crate::IntoStorage) -> Client {
        Client::from_arc(storage.into_storage())
    }

    /// A client over a shared storage handle.
    pub fn from_arc(storage: Arc<dyn Storage>) -> Client {
        Client::with_config(storage, ClientConfig::default())
    }

    /// A client with explicit settings.
    pub fn with_config(storage: Arc<dyn Storage>, config: ClientConfig) -> Client {
        Client {
            storage,
            config: Arc::new(config),
        }
    }

    /// Waits (a few seconds at most) until the wake-ups of the jobs enqueued so far have
    /// reached workers in other processes. On PostgreSQL they are sent by a background task just
    /// after each commit; a short-lived producer (a script, a CLI, a test harness) calls this
    /// before exiting, or its last jobs wait for the workers' next poll (1 s by default).
    /// Long-running processes need not call it.
    pub async fn flush_wakeups(&self) {
        self.storage.flush_wakeups().await;
    }

    /// The storage this client writes to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Enqueues one job with its kind's default options.
    pub async fn enqueue<A: JobArgs>(&self, args: A) -> Result<JobId, EnqueueError> {
        self.enqueue_with(args, InsertOpts::default()).await
    }

    /// Enqueues one job with options.
    pub async fn enqueue_with<A: JobArgs>(
        &self,
        args: A,
        opts: InsertOpts,
    ) -> Result<JobId, EnqueueError> {
        Ok(self.enqueue_unique(args, opts).await?.id)
    }

    /// Enqueues one job with options and tells whether it was a duplicate: with
    /// [`InsertOpts::unique`], a live job already holding the key means nothing new was inserted
    /// and the outcome carries the existing job's id; with [`InsertOpts::idempotency_key`], the
    /// same for a key still remembered (the job it names may since have been deleted).
    pub async fn enqueue_unique<A: JobArgs>(
        &self,
        args: A,
        opts: InsertOpts,
    ) -> Result<InsertOutcome, EnqueueError> {
        let job = self.prepare(&args, opts)?;
        first(self.insert_prepared(vec![job]).await?)
    }

    /// Enqueues many jobs of one kind in one transaction (one round trip; on PostgreSQL two for
    /// 100 or more jobs without unique or idempotency keys, sent by `COPY`); returns their ids
    /// in order. Either all are inserted or none.
    pub async fn enqueue_many<A: JobArgs>(
        &self,
        args: impl IntoIterator<Item = A>,
    ) -> Result<Vec<JobId>, EnqueueError> {
        let jobs = args
            .into_iter()
            .map(|a| self.prepare(&a, InsertOpts::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.insert_prepared(jobs).await?;
        Ok(results.into_iter().map(|r| r.id).collect())
    }

    /// Enqueues a job given its kind and JSON args, for callers that have no Rust type for it
    /// (the CLI, other languages through the server).
    pub async fn enqueue_raw(
        &self,
        kind: &str,
        args: serde_json::Value,
        opts: InsertOpts,
    ) -> Result<JobId, EnqueueError> {
        let job = self.prepare_raw(kind, args, opts)?;
        Ok(first(self.insert_prepared(vec![job]).await?)?.id)
    }

    /// Validates and serializes a job without inserting it. Prepared jobs of any kinds can be
    /// inserted together with [`Client::insert_prepared`], or inside your own transaction
    /// through [`PgClient`] / [`SqliteClient`].
    pub fn prepare<A: JobArgs>(
        &self,
        args: &A,
        opts: InsertOpts,
    ) -> Result<JobInsert, EnqueueError> {
        // Serialized once, straight to the JSON text that is stored (ArgsJson).
        let json = ArgsJson::to_json(args).map_err(|source| EnqueueError::Serialize {
            kind: A::KIND.to_owned(),
            source,
        })?;
        self.prepare_json(A::KIND, json, None, opts.or(A::default_opts()))
    }

    /// Like [`Client::prepare`] for a kind and JSON args.
    pub fn prepare_raw(
        &self,
        kind: &str,
        args: serde_json::Value,
        opts: InsertOpts,
    ) -> Result<JobInsert, EnqueueError> {
        self.prepare_json(kind, ArgsJson::from(&args), Some(&args), opts)
    }

    /// [`Client::prepare`] of args already serialized; `value` is the same args as a
    /// [`serde_json::Value`] where the caller has one (a unique key by argument fields reads
    /// them; without it they are parsed back from the text).
    fn prepare_json(
        &self,
        kind: &str,
        args: ArgsJson,
        value: Option<&serde_json::Value>,
        opts: InsertOpts,
    ) -> Result<JobInsert, EnqueueError> {
        validate_kind(kind).map_err(EnqueueError::InvalidKind)?;
        let queue = QueueName::new(opts.queue.unwrap_or_else(|| QueueName::DEFAULT.to_owned()))
            .map_err(EnqueueError::InvalidQueue)?;
        let size = args.len();
        if size > self.config.max_args_bytes {
            return Err(EnqueueError::ArgsTooLarge {
                kind: kind.to_owned(),
                size,
                limit: self.config.max_args_bytes,
            });
        }
        let max_attempts = opts
            .max_attempts
            .unwrap_or(self.config.default_max_attempts);
        if max_attempts < 1 {
            return Err(EnqueueError::InvalidOption(format!(
                "max_attempts must be at least 1, got {max_attempts}"
            )));
        }
        if let Some(tag) = opts.tags.iter().find(|t| t.is_empty() || t.len() > 255) {
            return Err(EnqueueError::InvalidOption(format!(
                "tags must be 1 to 255 characters, got {:?}",
                tag.chars().take(40).collect::<String>()
            )));
        }
        let metadata = match opts.metadata {
            None => serde_json::Value::Object(Default::default()),
            Some(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
            Some(other) => {
                return Err(EnqueueError::InvalidOption(format!(
                    "metadata must be a JSON object, got {other}"
                )))
            }
        };
        let backoff = opts
            .backoff
            .as_ref()
            .map(|backoff| {
                let stored = StoredBackoff::from_backoff(backoff).ok_or_else(|| {
                    EnqueueError::InvalidOption(
                        "a job's own backoff must be Exponential, Linear or Fixed: a Custom function can only be set per kind, on the worker, and Inherit is the absence of one".into(),
                    )
                })?;
                serde_json::to_value(stored).map_err(|source| EnqueueError::Serialize {
                    kind: kind.to_owned(),
                    source,
                })
            })
            .transpose()?;
        if opts.timeout.is_some_and(|t| t < Duration::from_millis(1)) {
            return Err(EnqueueError::InvalidOption(
                "timeout must be at least 1 ms (it is stored in whole milliseconds)".into(),
            ));
        }
        let expires_at = match (opts.expires_at, opts.expires_after) {
            (Some(at), _) => Some(at),
            (None, Some(after)) => Some(
                chrono::Duration::from_std(after)
                    .ok()
                    .and_then(|after| chrono::Utc::now().checked_add_signed(after))
                    .ok_or_else(|| {
                        EnqueueError::InvalidOption(format!(
                            "expires_after {after:?} is too far away"
                        ))
                    })?,
            ),
            (None, None) => None,
        };
        // `run_after` goes to the database as a delay, counted there on its clock. Only a
        // unique period's bucket is computed here, on this process's clock (see UniqueOpts).
        let (scheduled_at, run_after) = match (opts.run_at, opts.run_after) {
            (Some(at), _) => (Some(at), None),
            (None, Some(delay)) if delay > Duration::ZERO => {
                chrono::Duration::from_std(delay).map_err(|_| {
                    EnqueueError::InvalidOption(format!("run_after {delay:?} is too far away"))
                })?;
                (None, Some(delay))
            }
            _ => (None, None),
        };
        let unique = opts
            .unique
            .as_ref()
            .map(|unique| {
                let run_at = scheduled_at.unwrap_or_else(|| {
                    let delay = run_after
                        .and_then(|d| chrono::Duration::from_std(d).ok())
                        .unwrap_or_default();
                    chrono::Utc::now() + delay
                });
                let parsed;
                let value = match value {
                    Some(value) => value,
                    None => {
                        parsed = args.to_value();
                        &parsed
                    }
                };
                unique.to_insert(kind, queue.as_str(), value, run_at)
            })
            .transpose()
            .map_err(EnqueueError::InvalidOption)?;
        if let Some(key) = &opts.partition_key {
            if key.is_empty() || key.len() > 255 {
                return Err(EnqueueError::InvalidOption(
                    "partition_key must be 1 to 255 bytes".into(),
                ));
            }
        }
        if let Some(fingerprint) = &opts.fingerprint {
            if fingerprint.is_empty() || fingerprint.len() > 255 {
                return Err(EnqueueError::InvalidOption(
                    "fingerprint must be 1 to 255 bytes".into(),
                ));
            }
        }
        let idempotency = crate::idempotency::insert(
            opts.idempotency_key,
            opts.idempotency_window,
            unique.is_some(),
        )?;
        Ok(JobInsert {
            queue: queue.into(),
            kind: kind.to_owned(),
            args,
            priority: opts.priority.unwrap_or(Priority::NORMAL).0,
            max_attempts,
            scheduled_at,
            run_after,
            tags: opts.tags,
            metadata,
            unique,
            fingerprint: opts.fingerprint,
            idempotency,
            timeout: opts.timeout,
            backoff,
            expires_at,
            partition_key: opts.partition_key,
        })
    }

    /// Inserts prepared jobs in one transaction (one round trip; on PostgreSQL two for 100 or
    /// more jobs without unique or idempotency keys, sent by `COPY`); returns each job's id and
    /// whether it was a duplicate of a live unique job, in order.
    pub async fn insert_prepared(
        &self,
        jobs: Vec<JobInsert>,
    ) -> Result<Vec<JobInsertResult>, EnqueueError> {
        // Counted before the insert (the jobs move into it), recorded only if it succeeds.
        let counts = crate::telemetry::enqueue_counts(&jobs);
        let ids = self
            .storage
            .job_insert_many(JobInsertManyParams { jobs })
            .await?;
        crate::telemetry::enqueued(counts);
        Ok(ids)
    }

    /// Inserts prepared jobs like [`Client::insert_prepared`] and, in the same call, claims up to
    /// `fetch.max` available jobs of `fetch.queue` for the worker `fetch.worker_id`
    /// ([`Storage::job_insert_and_fetch`](backlog_storage::Storage::job_insert_and_fetch)): for a
    /// server that has an idle worker for what it enqueues. The claimed rows are running under
    /// fresh leases, as after [`Storage::job_fetch_available`](backlog_storage::Storage::job_fetch_available);
    /// the claim is best effort and may be empty.
    pub async fn insert_prepared_and_fetch(
        &self,
        jobs: Vec<JobInsert>,
        fetch: JobFetchAvailableParams,
    ) -> Result<(Vec<JobInsertResult>, Vec<JobRow>), EnqueueError> {
        let counts = crate::telemetry::enqueue_counts(&jobs);
        let result = self
            .storage
            .job_insert_and_fetch(JobInsertManyParams { jobs }, fetch)
            .await?;
        crate::telemetry::enqueued(counts);
        Ok(result)
    }

    /// One job by id.
    pub async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        Ok(self.storage.job_get(id).await?)
    }

    /// Jobs matching a filter, newest first.
    pub async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
        Ok(self.storage.job_list(params).await?)
    }

    /// Cancels jobs that have not started yet; returns the ids cancelled.
    pub async fn job_cancel_many(&self, ids: Vec<JobId>) -> Result<Vec<JobId>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let result = self
            .storage
            .job_cancel_by_filter(backlog_storage::JobFilter {
                ids,
                states: backlog_storage::WAITING_STATES.to_vec(),
                ..Default::default()
            })
            .await?;
        Ok(result.cancelled)
    }

    /// Dead letters: discarded jobs, newest first, each with every attempt's error. Page with
    /// `before_id` (the last id of the previous page).
    pub async fn discarded_list(
        &self,
        limit: u32,
        before_id: Option<JobId>,
    ) -> Result<Vec<JobRow>, Error> {
        let params = JobListParams {
            states: vec![backlog_types::JobState::Discarded],
            before_id,
            limit,
            ..JobListParams::default()
        };
        Ok(self.storage.job_list(params).await?)
    }

    /// Deletes finished jobs (completed, cancelled or discarded) for good, e.g. to purge dead
    /// letters; returns the ids deleted. Waiting and running jobs are never deleted.
    pub async fn job_purge_many(&self, ids: Vec<JobId>) -> Result<Vec<JobId>, Error> {
        Ok(self.storage.job_purge_many(JobIdsParams { ids }).await?)
    }

    /// A job the cleaner archived (with [`Retention::archive`](crate::maintenance::Retention)).
    pub async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        Ok(self.storage.job_archive_get(id).await?)
    }

    /// Makes finished or waiting jobs run again now (a discarded job gets one more attempt);
    /// returns the ids retried.
    pub async fn job_retry_many(&self, ids: Vec<JobId>) -> Result<Vec<JobId>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = backlog_storage::JobFilter {
            ids,
            ..Default::default()
        };
        Ok(self.storage.job_retry_by_filter(filter).await?)
    }
}

/// The one result of a one-job insert.
fn first(results: Vec<JobInsertResult>) -> Result<JobInsertResult, EnqueueError> {
    results.into_iter().next().ok_or_else(|| {
        EnqueueError::Storage(backlog_storage::Error::new(
            backlog_storage::ErrorKind::Database,
            "the insert returned no row",
        ))
    })
}
