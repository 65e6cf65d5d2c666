//! The storage seam: the one trait, [`Storage`], that every Backlog backend implements, with the
//! parameter and result types of its methods.
//!
//! Methods are named noun-then-verb (`job_insert_many`, `job_fetch_available`) and take one
//! params struct, so a backend can be swapped without touching the runtime. Both backends
//! (`backlog-postgres`, `backlog-sqlite`) pass the same conformance suite
//! (`backlog-conformance`).
//!
//! The primitives are deliberately usable by something other than the in-process runtime: a
//! server leasing jobs to remote workers calls the same fetch / finish / heartbeat methods.
//!
//! ```
//! use backlog_storage::{JobInsert, JobInsertManyParams};
//!
//! let params = JobInsertManyParams {
//!     jobs: vec![JobInsert::new("default", "send_email", serde_json::json!({"to": "a@b.c"}))],
//! };
//! assert_eq!(params.jobs[0].max_attempts, 25);
//! ```

mod args;
mod batch;
mod cancel;
mod cron;
mod dashboard;
mod error;
mod fair;
mod idempotency;
mod leader;
mod migration;
mod params;
mod queue;
mod shared;
mod unique;
mod workflow;

use async_trait::async_trait;
use backlog_types::{JobId, JobRow};
use chrono::{DateTime, Utc};

pub use args::ArgsJson;
pub use batch::*;
pub use cancel::*;
pub use cron::{
    CronDefinition, CronRow, CronTickParams, CronUpsertParams, MissedPolicy, UnknownMissedPolicy,
};
pub use dashboard::*;
pub use error::{Error, ErrorKind};
pub use fair::*;
pub use idempotency::*;
pub use leader::{Leader, LeaderElectParams, LeaderResignParams};
pub use migration::{Migration, MigrationDirection, MigrationStatus};
pub use params::*;
pub use queue::*;
pub use shared::IntoStorage;
pub use unique::*;
pub use workflow::*;

/// A database that stores Backlog's jobs.
///
/// Every method is one logical operation and, where it writes, one transaction. Times are taken
/// from the database's clock unless a params struct carries an explicit `now` (used by tests to
/// move time without sleeping).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short name for logs and the CLI: `"postgres"` or `"sqlite"`.
    fn backend_name(&self) -> &'static str;

    /// Lists the backend's migrations and whether each is applied.
    async fn migration_list(&self) -> Result<Vec<MigrationStatus>, Error>;

    /// Applies (up) or reverts (down) migrations up to `target`, returning the versions changed.
    async fn migration_run(&self, params: MigrationRunParams) -> Result<Vec<u32>, Error>;

    /// The database's current time.
    async fn now(&self) -> Result<DateTime<Utc>, Error>;

    /// Inserts jobs in one round trip and one transaction, returning their ids in input order.
    ///
    /// Jobs whose `scheduled_at` is in the future are stored `scheduled`, the rest `available`;
    /// listeners are told about queues that got available jobs.
    ///
    /// A job with a [`UniqueInsert`] whose key is held by a live job (a job in a state of that
    /// job's own mask) is not inserted: the result carries the existing job's id with
    /// `duplicate: true`, after applying [`OnConflict::Replace`] if asked. Jobs of one batch
    /// sharing a key are folded into the first ([`DedupedBatch`]). The key is enforced by a
    /// unique index, so concurrent inserts cannot both win.
    ///
    /// A job with an [`IdempotencyInsert`] whose key was stored less than its window ago (even
    /// if that job has since been deleted) is not inserted either: the result carries the id the
    /// key was stored with and `duplicate: true`. Otherwise the key is stored with the new job,
    /// in the same transaction; a primary key makes concurrent inserts of one key yield one job.
    /// Jobs of one batch sharing a key are folded into the first. Jobs without a key pay nothing.
    async fn job_insert_many(
        &self,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error>;

    /// Atomically claims up to `max` available jobs of one queue for a worker: they become
    /// `running` with `attempt + 1`, a lease and a fresh random
    /// [`lease_token`](backlog_types::JobRow::lease_token) that names this execution. No job is
    /// ever returned to two callers.
    ///
    /// The queue's settings apply atomically: a paused queue returns nothing; with
    /// `max_running`, at most `max_running` minus the jobs of the queue already running are
    /// claimed, even with many concurrent fetchers in many processes; with a rate limit, each
    /// claimed job spends a token of the bucket `queue:<name>`.
    async fn job_fetch_available(
        &self,
        params: JobFetchAvailableParams,
    ) -> Result<Vec<JobRow>, Error>;

    /// Inserts jobs as [`Storage::job_insert_many`] does, then claims for a worker as
    /// [`Storage::job_fetch_available`] does, so that a server which has an idle worker for the
    /// jobs it is enqueuing hands them over without waiting for a wake-up and a claim of its own
    /// (issue #7). The claim takes the queue's available jobs in run order, the new ones or
    /// older ones, and honours the queue's settings. It is best effort: a backend may claim
    /// nothing where the settings restrict claims (paused, `max_running`, a rate limit, fair),
    /// and a claim that fails after the insert returns no rows; the jobs then wait for an
    /// ordinary claim. The insert is never undone by the claim.
    ///
    /// The default makes the two calls one after the other. PostgreSQL makes them in one
    /// transaction with one durable commit, the claim riding along.
    ///
    /// # Errors
    ///
    /// As [`Storage::job_insert_many`]; an error means nothing was inserted or claimed.
    async fn job_insert_and_fetch(
        &self,
        params: JobInsertManyParams,
        fetch: JobFetchAvailableParams,
    ) -> Result<(Vec<JobInsertResult>, Vec<JobRow>), Error> {
        let inserted = self.job_insert_many(params).await?;
        // Best effort: the jobs are stored; a failed claim leaves them to an ordinary one.
        let claimed = self.job_fetch_available(fetch).await.unwrap_or_default();
        Ok((inserted, claimed))
    }

    /// Records the outcome of many executions in one transaction. Each entry applies only if the
    /// job is still `running` under that entry's lease token (fencing): a writer whose claim was
    /// lost, rescued or superseded is refused. Returns, ascending, the ids whose outcome is now
    /// recorded: applied by this call, or already applied earlier by the same execution (a
    /// retried write whose first reply was lost), which is not applied twice.
    async fn job_finish_many(&self, params: JobFinishManyParams) -> Result<Vec<JobId>, Error>;

    /// Renews the leases of running jobs held under the given lease tokens. Jobs this execution
    /// no longer holds are returned in [`JobHeartbeatResult::lost`] (not those whose outcome the
    /// same execution already recorded); held jobs whose cancellation was requested in
    /// [`JobHeartbeatResult::cancel_requested`].
    async fn job_heartbeat_many(
        &self,
        params: JobHeartbeatManyParams,
    ) -> Result<JobHeartbeatResult, Error>;

    /// Makes `scheduled` and `retryable` jobs whose time has come `available`, returning how many
    /// per queue.
    async fn job_schedule(&self, params: JobScheduleParams) -> Result<Vec<QueueCount>, Error>;

    /// The earliest `scheduled_at` among `scheduled` and `retryable` jobs.
    async fn job_next_scheduled_at(&self) -> Result<Option<DateTime<Utc>>, Error>;

    /// Returns `running` jobs whose lease expired to `retryable` (due at once, keeping their
    /// `scheduled_at` and so their place in the run order), or `discarded` once their
    /// attempts are used up or they were rescued `poison_threshold` times (poison jobs); each
    /// rescue increments `rescue_count`, records an error and clears the lease token, so the
    /// execution that stopped heartbeating is fenced off. Returns the rescued jobs' ids.
    async fn job_rescue(&self, params: JobRescueParams) -> Result<Vec<JobId>, Error>;

    /// One job by id.
    async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error>;

    /// Jobs matching a filter, newest first, with keyset pagination.
    async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error>;

    /// Number of jobs per queue and state.
    async fn job_count_by_state(&self) -> Result<Vec<StateCount>, Error>;

    /// Number of jobs per queue for the states still to finish (available, scheduled,
    /// running, retryable), read through the partial indexes that hold only those jobs, so
    /// its cost follows the work waiting and running, never the history of finished jobs kept
    /// for the retention period. The runners' `backlog_queue_depth` gauges use it.
    async fn job_count_unfinished(&self) -> Result<Vec<StateCount>, Error>;

    /// Cancels one job: `cancelled` at once if it has not started, a cancellation request
    /// (see [`JobCancelParams::request_running`]) if it is running. The kind check and the
    /// change happen in one statement.
    async fn job_cancel(&self, params: JobCancelParams) -> Result<JobCancelResult, Error>;

    /// Cancels the waiting jobs matching a filter and requests cancellation of the running ones
    /// (states default to [`CANCELLABLE_STATES`]), in one transaction. Limited to
    /// [`WAITING_STATES`], it cancels only jobs that have not started.
    async fn job_cancel_by_filter(&self, filter: JobFilter) -> Result<JobCancelManyResult, Error>;

    /// Of the given jobs, those still `running` whose cancellation was requested. A read-only
    /// poll: the fallback for a lost [`Event::CancelRequested`] (a SQLite process that does not
    /// watch the file, a watcher that fell behind).
    async fn job_cancel_requested(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error>;

    /// Makes the finalized or waiting jobs matching a filter (by ids, queue, kind; states
    /// default to [`RETRYABLE_STATES`]) `available` again at once, keeping their history.
    /// Discarded jobs get one more attempt if they had used all of theirs. Running and available
    /// jobs are left alone. Returns the ids retried, ascending.
    async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error>;

    /// Deletes for good the jobs matching a filter (states default to [`DELETABLE_STATES`]:
    /// every state but `running`; cancel a running job first) — the SKIP LOCKED seed's
    /// `delete_job` and `clear`. Jobs of a workflow or batch are left alone (their dependants and
    /// callback count them: cancel them instead), as is a job being claimed at that moment.
    /// Returns the ids deleted, ascending.
    async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error>;

    /// Moves the waiting jobs (available, scheduled, retryable) matching a filter to a new run
    /// time, priority and/or queue. A job waiting for workflow dependencies keeps waiting.
    /// Returns the ids changed, ascending; refuses an empty filter or a change of nothing.
    async fn job_reschedule_by_filter(
        &self,
        params: JobRescheduleParams,
    ) -> Result<Vec<JobId>, Error>;

    /// Deletes (and optionally archives) finalized jobs older than each state's cutoff,
    /// oldest first, returning how many were deleted. Used by the cleaner.
    async fn job_delete_finalized(&self, params: JobDeleteFinalizedParams) -> Result<u64, Error>;

    /// Deletes the given jobs if they are finalized (completed, cancelled or discarded), e.g. to
    /// purge dead letters; returns the ids deleted. Other jobs are left alone.
    async fn job_purge_many(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error>;

    /// One archived job by id, as it was when the cleaner archived it.
    async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error>;

    /// Records a running job's progress, fenced: applies only while the job is `running` under
    /// `lease_token`. Returns whether it applied.
    async fn job_progress_set(&self, params: JobProgressSetParams) -> Result<bool, Error>;

    /// Pauses a queue (creating its settings row if needed): fetches from it return nothing
    /// until it is resumed. Jobs already running are not affected. Idempotent: pausing a paused
    /// queue keeps its original `paused_at`.
    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), Error>;

    /// Resumes a paused queue and sends [`Event::QueueResumed`] so that workers fetch at once.
    /// Returns whether the queue was paused.
    async fn queue_resume(&self, params: QueuePauseParams) -> Result<bool, Error>;

    /// Changes a queue's cluster-wide limits (creating its settings row if needed).
    async fn queue_update(&self, params: QueueUpdateParams) -> Result<QueueInfo, Error>;

    /// One queue's settings and counts; `None` if it has neither settings nor jobs.
    async fn queue_get(&self, queue: &str) -> Result<Option<QueueInfo>, Error>;

    /// Every queue that has settings or jobs, by name.
    async fn queue_list(&self) -> Result<Vec<QueueInfo>, Error>;

    /// Takes up to `want` tokens from a rate-limit bucket, refilled by the time elapsed since
    /// its last use. Serialized per bucket across processes.
    async fn rate_limit_take(&self, params: RateLimitTakeParams) -> Result<RateLimitTake, Error>;

    /// Subscribes to the backend's wake-up signals: queues that got available jobs. A backend
    /// that loses its listening connection sends [`Event::Resync`] when it is back, so that
    /// subscribers poll once.
    async fn event_subscribe(&self) -> Result<tokio::sync::broadcast::Receiver<Event>, Error>;

    /// Waits (a few seconds at most) until the wake-ups of the writes made so far through this
    /// storage have reached other processes, where the backend sends them after the commit
    /// (PostgreSQL's `NOTIFY`). A short-lived producer calls it before exiting, so that workers
    /// elsewhere start its last jobs at once instead of at their next poll. Never fails: a
    /// wake-up that cannot be sent leaves the workers to their polling.
    async fn flush_wakeups(&self) {}

    /// Takes the lease `params.name` for `params.leader_id` if nobody holds it, its holder let it
    /// expire, or the caller already holds it (then it is extended). Returns whether the caller
    /// is the leader.
    async fn leader_attempt_elect(&self, params: LeaderElectParams) -> Result<bool, Error>;

    /// Extends the lease if the caller still holds it (even if it expired meanwhile, as long as
    /// nobody else took it). Returns whether the caller is still the leader.
    async fn leader_attempt_reelect(&self, params: LeaderElectParams) -> Result<bool, Error>;

    /// Gives the lease up if the caller holds it, and then sends
    /// [`Event::LeaderResigned`] so that another process takes over at once. Returns whether
    /// the caller held it.
    async fn leader_resign(&self, params: LeaderResignParams) -> Result<bool, Error>;

    /// The lease's current holder, expired or not.
    async fn leader_get(&self, name: &str) -> Result<Option<Leader>, Error>;

    /// Creates or replaces a periodic job schedule, and sends [`Event::CronChanged`].
    async fn cron_upsert(&self, params: CronUpsertParams) -> Result<CronRow, Error>;

    /// Deletes a schedule, returning whether it existed; sends [`Event::CronChanged`].
    async fn cron_delete(&self, name: &str) -> Result<bool, Error>;

    /// Every schedule, by name.
    async fn cron_list(&self) -> Result<Vec<CronRow>, Error>;

    /// Handles one tick of a schedule in one transaction: if its `next_run_at` still equals
    /// `params.expected` (and it is enabled), moves it to `params.next_run_at` and inserts
    /// `params.jobs`, returning their ids; otherwise (another process handled the tick, or the
    /// schedule changed) changes nothing and returns `None`.
    async fn cron_tick(&self, params: CronTickParams) -> Result<Option<Vec<JobId>>, Error>;

    /// Jobs matching a search (ids, states, queues, kinds, priority, tags, fingerprint, creation
    /// time, a value at a JSON path of args or metadata), newest first, keyset-paginated. The
    /// HTTP API's job list.
    async fn job_search(&self, params: JobSearchParams) -> Result<Vec<JobRow>, Error>;

    /// Jobs finalized per minute and final state since `params.since`, oldest minute first.
    /// Served by the index on `finalized_at`; history reaches back as far as the cleaner keeps
    /// finalized jobs.
    async fn job_throughput(
        &self,
        params: JobThroughputParams,
    ) -> Result<Vec<ThroughputBucket>, Error>;

    /// Per queue with available jobs, the oldest one's `scheduled_at`, by queue name.
    async fn queue_latency(&self) -> Result<Vec<QueueLatency>, Error>;

    /// Registers a worker process or refreshes its report and heartbeat time.
    async fn worker_heartbeat(&self, params: WorkerHeartbeatParams) -> Result<(), Error>;

    /// Workers heard from since `params.seen_since`, by id.
    async fn worker_list(&self, params: WorkerListParams) -> Result<Vec<WorkerRow>, Error>;

    /// Removes a worker's registration (at its clean shutdown); returns whether it existed.
    async fn worker_delete(&self, id: &str) -> Result<bool, Error>;

    /// Deletes up to `params.limit` idempotency keys whose window has ended (their jobs are
    /// untouched); returns how many. A pruned key may be used again.
    async fn idempotency_prune(&self, params: IdempotencyPruneParams) -> Result<u64, Error>;

    /// Inserts a workflow in one transaction: its jobs (those with dependencies stored
    /// `scheduled` at [`waiting_for_dependencies`]), its edges, and the workflow row. Refused with
    /// [`ErrorKind::InvalidInput`] ([`WorkflowInvalid`]) before anything is stored if it has a
    /// cycle, an edge to a job outside it, or a keyed job. Listeners are told about queues that
    /// got available jobs.
    ///
    /// Afterwards, whenever a job is finalized by [`Storage::job_finish_many`], the same
    /// transaction settles its dependants: each waiting dependant's count of unsettled
    /// dependencies drops; one that reaches zero becomes `available` (with the insert's
    /// wake-up); a dependency that ended `discarded` or `cancelled` cancels the dependants
    /// whose edge says [`DependencyFailure::Cancel`], and so on down the graph.
    async fn workflow_insert(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error>;

    /// Workflows with their per-state counts, newest first, keyset-paginated.
    async fn workflow_list(&self, params: WorkflowListParams) -> Result<Vec<WorkflowRow>, Error>;

    /// One workflow with its per-state counts.
    async fn workflow_get(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, Error>;

    /// Every job of a workflow (still in the job table), by id, with its dependencies.
    async fn workflow_jobs(&self, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error>;

    /// Retries a workflow as a whole, in one transaction: its `discarded` and `cancelled` jobs
    /// wait again, each for its dependencies that have not completed (`available` at once if
    /// none), with one more attempt if they had used theirs. Returns the ids retried, ascending.
    async fn workflow_retry(&self, id: WorkflowId) -> Result<Vec<JobId>, Error>;

    /// The jobs `id` depends on, with their states and results, by id.
    async fn job_dependency_results(&self, id: JobId) -> Result<Vec<DependencyResult>, Error>;

    /// Creates an open batch (a member of `params.parent` if given, which must be open). With
    /// an idempotency key already used by a batch, creates nothing and returns that batch.
    async fn batch_create(&self, params: BatchCreateParams) -> Result<BatchId, Error>;

    /// Inserts jobs as members of an open batch, in one transaction with the batch's count;
    /// refused with [`ErrorKind::InvalidInput`] if the batch is sealed or does not exist.
    /// Returns the ids in input order; a job whose idempotency key was already used is not
    /// inserted or counted, and its result is the earlier job's id with `duplicate: true`.
    async fn batch_add(&self, params: BatchAddParams) -> Result<Vec<JobInsertResult>, Error>;

    /// Seals a batch: no member can be added any more. If every member already finished, the
    /// batch finishes in the same transaction (callback enqueued, parent counted). Sealing a
    /// sealed batch changes nothing. Returns the batch after sealing.
    async fn batch_seal(&self, id: BatchId) -> Result<BatchRow, Error>;

    /// One batch.
    async fn batch_get(&self, id: BatchId) -> Result<Option<BatchRow>, Error>;

    /// Batches, newest first, keyset-paginated.
    async fn batch_list(&self, params: BatchListParams) -> Result<Vec<BatchRow>, Error>;

    /// Examines the next `params.limit` workflows by id after `params.after` and deletes those
    /// none of whose jobs is left in the job table (the cleaner deleted them after their
    /// retention), with their edges. Used by the cleaner, which sweeps the table window by
    /// window ([`PruneParams`]).
    async fn workflow_prune(&self, params: PruneParams) -> Result<Pruned, Error>;

    /// Examines the next `params.limit` batches by id after `params.after` and deletes the
    /// finished ones none of whose member jobs or child batches is left. Used by the cleaner,
    /// as [`Storage::workflow_prune`].
    async fn batch_prune(&self, params: PruneParams) -> Result<Pruned, Error>;
}
