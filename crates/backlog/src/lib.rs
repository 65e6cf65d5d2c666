//! # Backlog
//!
//! A durable background-job queue for Rust: typed jobs, a client to enqueue them (one, many,
//! inside your own database transaction, scheduled, prioritised), and a tokio worker runtime
//! (batched fetch and completion, concurrency limits, retries with backoff, heartbeats,
//! graceful shutdown), on SQLite (embedded, the default) or PostgreSQL (many worker machines
//! sharing one database).
//!
//! A job that was accepted is run at least once, even if a worker crashes mid-way: running
//! jobs hold a lease that heartbeats renew, and the rescuer returns jobs whose lease expired.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use backlog::{Client, Job, JobArgs, JobError, Runner, Worker, Workers};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct SendEmail {
//!     to: String,
//! }
//!
//! impl JobArgs for SendEmail {
//!     const KIND: &'static str = "send_email";
//! }
//!
//! struct Mailer;
//!
//! impl Worker for Mailer {
//!     type Args = SendEmail;
//!     async fn work(&self, job: Job<SendEmail>) -> Result<(), JobError> {
//!         println!("sending to {}", job.args.to);
//!         Ok(())
//!     }
//! }
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = backlog::sqlite::SqliteStorage::open("backlog.sqlite3", Default::default()).await?;
//! backlog::migrate_up(&storage).await?;
//! let storage: Arc<dyn backlog::Storage> = Arc::new(storage);
//!
//! let client = Client::from_arc(storage.clone());
//! client.enqueue(SendEmail { to: "ada@example.com".into() }).await?;
//!
//! let runner = Runner::builder(storage, Workers::new().register(Mailer))
//!     .queue("default", 10)
//!     .start()?;
//! // Until SIGTERM or Ctrl-C, then a graceful shutdown with 30 s for running jobs:
//! runner.run_until_signal(Duration::from_secs(30)).await?;
//! # Ok(()) }
//! ```
//!
//! An enqueue that may be retried (after a timeout, or [`EnqueueError::OutcomeUnknown`] when the
//! connection broke before the database replied) should carry an idempotency key
//! ([`InsertOpts::idempotency_key`], e.g. from [`new_idempotency_key`]): a retry with the same key
//! within its window (default 24 hours) returns the first job's id instead of inserting another.
//!
//! [`Client::unfinished`] says how many jobs are left to run, per queue and state.
//!
//! ## Testing
//!
//! [`testing`] helps your own test suites: build a [`Job`] by hand to unit-test `work`
//! ([`testing::job`]), run what your code enqueued inline and see each outcome
//! ([`testing::drain`]), check what was enqueued ([`testing::assert_enqueued`], also inside
//! your uncommitted transaction), on a throwaway SQLite database or PostgreSQL schema.

mod backoff;
pub mod blocking;
mod client;
mod context;
pub mod cron;
mod error;
mod idempotency;
mod job;
pub mod maintenance;
pub mod policy;
mod registry;
pub mod remote;
mod runtime;
pub mod telemetry;
pub mod testing;
mod unique;
mod worker;
pub mod workflow;

pub use backoff::Backoff;
pub use blocking::{BlockingPool, BlockingPoolError, BlockingWorker};
#[cfg(feature = "postgres")]
pub use client::PgClient;
#[cfg(feature = "sqlite")]
pub use client::SqliteClient;
pub use client::{Client, ClientConfig, Reschedule, Unfinished};
pub use context::{JobValueError, PROGRESS_INTERVAL};
pub use error::{CancelError, EnqueueError, Error};
pub use idempotency::new_idempotency_key;
pub use job::{InsertOpts, Job, JobArgs};
pub use policy::KindPolicy;
pub use registry::Workers;
pub use runtime::{
    shutdown_signal, JobEvent, Prefetch, QueueConfig, Runner, RunnerBuilder, RunnerConfig,
    RunnerStats, StatsSnapshot, PREFETCH_MAX_WAIT, PREFETCH_WAIT_BUDGET,
};
pub use unique::{UniqueArgs, UniqueOpts};
pub use worker::{JobError, Worker};
pub use workflow::{Step, Workflow, WorkflowError};

pub use backlog_storage::{
    self as storage, BatchCallback, BatchCounts, BatchId, BatchRow, CallbackOn, DependencyFailure,
    DependencyResult, IntoStorage, JobCancelManyResult, JobFilter,
    JobInsertResult as InsertOutcome, JobListParams, OnConflict, QueueInfo, QueueUpdateParams,
    RateLimit, Storage, WorkflowId, WorkflowInsertResult,
};
pub use backlog_types::{AttemptError, JobId, JobRow, JobState, LeaseToken, Priority, QueueName};

/// The PostgreSQL backend.
#[cfg(feature = "postgres")]
pub use backlog_postgres as postgres;
/// The SQLite backend.
#[cfg(feature = "sqlite")]
pub use backlog_sqlite as sqlite;

/// Applies every pending migration of `storage`.
pub async fn migrate_up(storage: &dyn Storage) -> Result<Vec<u32>, Error> {
    Ok(storage
        .migration_run(backlog_storage::MigrationRunParams {
            direction: backlog_storage::MigrationDirection::Up,
            target: None,
        })
        .await?)
}
