//! Helpers for your own test suites: build a [`Job`] by hand to unit-test a worker's `work`,
//! run every job your code enqueued inline with [`drain`], check what was enqueued with
//! [`assert_enqueued`] / [`assert_not_enqueued`], and get a throwaway storage with
//! [`sqlite_storage`] or [`postgres_storage`].
//!
//! Unit-testing a worker, without any database:
//!
//! ```
//! use backlog::{Job, JobArgs, JobError, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Greet { name: String }
//! impl JobArgs for Greet { const KIND: &'static str = "greet"; }
//!
//! struct Greeter;
//! impl Worker for Greeter {
//!     type Args = Greet;
//!     async fn work(&self, job: Job<Greet>) -> Result<(), JobError> {
//!         if job.args.name.is_empty() {
//!             return Err(JobError::discard("no name"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let job = backlog::testing::job(Greet { name: "Ada".into() });
//! assert!(Greeter.work(job).await.is_ok());
//!
//! let mut job = backlog::testing::job(Greet { name: String::new() });
//! job.attempt = 3; // every public field can be set
//! assert_eq!(Greeter.work(job).await.unwrap_err().message(), "no name");
//! # }
//! ```
//!
//! Running what a piece of code enqueued, on a throwaway SQLite database:
//!
//! ```
//! # use backlog::{Job, JobArgs, JobError, Worker, Workers};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize)]
//! # struct Greet { name: String }
//! # impl JobArgs for Greet { const KIND: &'static str = "greet"; }
//! # struct Greeter;
//! # impl Worker for Greeter {
//! #     type Args = Greet;
//! #     async fn work(&self, job: Job<Greet>) -> Result<(), JobError> {
//! #         if job.args.name.is_empty() { return Err(JobError::discard("no name")); }
//! #         Ok(())
//! #     }
//! # }
//! use backlog::testing::{self, Expected, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = testing::sqlite_storage().await?;
//! let client = backlog::Client::from_arc(storage.clone());
//!
//! client.enqueue(Greet { name: "Ada".into() }).await?; // the code under test
//! testing::assert_enqueued(&*storage, Expected::<Greet>::new().args(serde_json::json!({"name": "Ada"}))).await;
//!
//! let ran = testing::drain(&storage, &Workers::new().register(Greeter)).await?;
//! assert_eq!(ran.len(), 1);
//! assert_eq!(ran[0].outcome, Outcome::Completed);
//! testing::assert_not_enqueued(&*storage, Expected::<Greet>::new()).await;
//! # Ok(()) }
//! ```

mod assert;
mod drain;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::Storage;
use crate::{Job, JobArgs};

pub use assert::{assert_enqueued, assert_not_enqueued, enqueued, EnqueuedJob, Expected};
pub use drain::{drain, drain_with, DrainConfig, Drained, Outcome};

#[cfg(feature = "postgres")]
pub use assert::postgres::{assert_enqueued_pg_tx, enqueued_pg_tx};
#[cfg(feature = "sqlite")]
pub use assert::sqlite::{assert_enqueued_sqlite_tx, enqueued_sqlite_tx};

/// A job built by hand, as a runner would hand it to a worker on its first attempt: id 1,
/// attempt 1, the queue, priority and attempts of [`JobArgs::default_opts`] (else `default`,
/// normal, 25), created and scheduled now, no errors. Set any public field to test other
/// cases (`job.attempt = job.max_attempts` for the last attempt, `job.errors` for history).
///
/// It is not attached to a runner: [`Job::set_result`] and [`Job::set_progress`] return
/// [`JobValueError::Detached`](crate::JobValueError::Detached).
pub fn job<A: JobArgs>(args: A) -> Job<A> {
    build(args, CancellationToken::new())
}

/// Like [`job`], with cancellation already requested: [`Job::cancelled`] completes at once and
/// [`Job::is_cancelled`] is true, to test how `work` reacts to a cancellation request.
pub fn cancelled_job<A: JobArgs>(args: A) -> Job<A> {
    let token = CancellationToken::new();
    token.cancel();
    build(args, token)
}

fn build<A: JobArgs>(args: A, cancellation: CancellationToken) -> Job<A> {
    Job::detached(args, A::default_opts(), cancellation)
}

/// A migrated SQLite storage in a new temporary directory, deleted when the last handle is
/// dropped. Tests using it can run in parallel.
///
/// # Errors
///
/// When the temporary database cannot be created or migrated.
#[cfg(feature = "sqlite")]
pub async fn sqlite_storage() -> Result<Arc<dyn Storage>, crate::Error> {
    Ok(Arc::new(backlog_sqlite::testing::test_storage().await?))
}

/// A PostgreSQL storage on a fresh, migrated schema of the test database named by
/// `BACKLOG_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/backlog_test`,
/// created if missing), so tests run in parallel on one database without seeing each other's
/// jobs. Schemas are left behind: drop the test database between runs.
///
/// # Errors
///
/// When the database cannot be reached, created or migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_storage() -> Result<Arc<dyn Storage>, crate::Error> {
    Ok(Arc::new(
        backlog_postgres::testing::try_test_storage().await?,
    ))
}

/// The backends' own test helpers, for when you need the concrete storage (its pool, a
/// [`SqliteClient`](crate::SqliteClient) or [`PgClient`](crate::PgClient)).
#[cfg(feature = "sqlite")]
pub use backlog_sqlite::testing as sqlite;

/// The PostgreSQL backend's test helpers (per-test schemas).
#[cfg(feature = "postgres")]
pub use backlog_postgres::testing as postgres;
