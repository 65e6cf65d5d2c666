//! The SQLite backend of Backlog: [`SqliteStorage`] implements the storage seam
//! ([`backlog_storage::Storage`]) on one database file, with `rusqlite` (bundled SQLite).
//!
//! # Architecture
//!
//! - **One writer thread with group commit.** Every write is a request sent to one dedicated OS
//!   thread that owns the write connection. It drains everything already queued (up to 512
//!   requests) and runs the batch in one `BEGIN IMMEDIATE … COMMIT` transaction, each request in
//!   its own savepoint so a failing request is rolled back alone. Replies are sent after the
//!   commit, so with `synchronous=FULL` (the default) a write that returned survives a power
//!   loss, and 16 concurrent enqueues cost one fsync instead of 16. See `src/writer.rs`.
//! - **Little work on the writer thread**, which limits every write: jobs are encoded by the
//!   caller (and freed by it), a bulk insert goes in multi-row statements (plain jobs in one
//!   that binds 7 values per job rather than 17), and each connection
//!   gets a 1 MiB lookaside allocator so that bound values are not copied through `malloc`
//!   (`src/connection.rs`). Checkpoints run on a thread of their own (`src/checkpoint.rs`): the
//!   writer's commits only wake it.
//! - **Readers in WAL mode.** Reads run on a small pool of connections in
//!   `tokio::task::spawn_blocking` and never wait for the writer.
//! - **Wake-ups.** SQLite has no `LISTEN/NOTIFY`: every storage opened on the same file *in
//!   this process* shares one broadcast channel, so a client and a worker wake each other. Jobs
//!   inserted by *other processes* are found by a watcher thread, which runs while the process
//!   has subscribers: every 5 ms it asks SQLite whether the file changed (`PRAGMA
//!   data_version`), and if new jobs appeared that this process did not insert, wakes their
//!   queues. Other changes workers must hear of (promotions, retries, cancellation requests,
//!   resumed queues, resigned leaders, cron changes) are written as rows of `backlog_event`
//!   in their own transaction, and the watcher reads those of other processes: what
//!   PostgreSQL's `NOTIFY` carries (`src/notify.rs`).
//! - **Time** comes from this host's clock (there is no database server), and is stored as TEXT
//!   `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds) so that plain SQL can read and compare it.
//!   JSON columns (`args`, `errors`, `tags`, …) are TEXT holding JSON.
//!
//! # Layout
//!
//! The modules mirror those of `backlog-postgres` file by file: the statements of a
//! [`Storage`](backlog_storage::Storage) method live in the module of the same name in both
//! crates (the table is in `docs/architecture.md`). `storage.rs` holds `impl Storage`; here it
//! picks the connection of each method (the writer thread or a reader) and sends the wake-ups
//! after commit, and the modules run the SQL synchronously on the connection given:
//! `insert` (`job_insert_many`), `queue` (`job_fetch_available`, `queue_*`, `rate_limit_take`),
//! `fair` (claims of fair queues), `finish` (`job_finish_many`, `job_heartbeat_many`,
//! `job_progress_set`), `settle` (workflow dependants and batch counts of finalized jobs),
//! `cancel` (`job_cancel`, the `*_by_filter` writes, `job_purge_many`, `job_cancel_requested`),
//! `maintenance` (`job_schedule`, `job_next_scheduled_at`, `job_rescue`,
//! `job_delete_finalized`), `inspect` (`job_get`, `job_list`, `job_count_by_state`,
//! `job_archive_get`), `idempotency`, `workflow`, `batch`, `leader_cron`, `dashboard`, `migrate`,
//! `tx` (transactional enqueue), `row`, `error`, `bench` and `testing`.
//!
//! SQLite only: `writer` (the writer thread), `checkpoint` (the checkpointer thread), `reader`
//! (the read pool), `connection` (pragmas), `notify` (wake-ups: in-process, the signals written
//! for other processes, and the watcher of other processes' inserts and signals), `time`
//! (timestamps as text) and `sql` (the statements, one file each under `sql/`).
//!
//! # Example
//!
//! ```
//! use backlog_sqlite::{SqliteConfig, SqliteStorage};
//! use backlog_storage::{JobInsert, JobInsertManyParams, MigrationDirection, MigrationRunParams, Storage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), backlog_storage::Error> {
//! # let dir = std::env::temp_dir().join(format!("backlog-doc-{}", fastrand::u64(..)));
//! let storage = SqliteStorage::open(dir.join("jobs.db"), SqliteConfig::default()).await?;
//! storage
//!     .migration_run(MigrationRunParams { direction: MigrationDirection::Up, target: None })
//!     .await?;
//! let ids = storage
//!     .job_insert_many(JobInsertManyParams {
//!         jobs: vec![JobInsert::new("default", "send_email", serde_json::json!({"to": "a@b.c"}))],
//!     })
//!     .await?;
//! let job = storage.job_get(ids[0].id).await?.expect("just inserted");
//! assert_eq!(job.kind, "send_email");
//! storage.close().await?;
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok(())
//! # }
//! ```

// Mirrored by backlog-postgres, module for module (see "Layout" above).
mod batch;
/// Raw SQL for `backlog bench`; not part of the API.
#[doc(hidden)]
pub mod bench;
mod cancel;
mod dashboard;
mod error;
mod fair;
mod finish;
mod idempotency;
mod insert;
mod inspect;
mod leader_cron;
mod maintenance;
mod migrate;
mod queue;
mod row;
mod settle;
mod storage;
pub mod testing;
mod tx;
mod workflow;

// SQLite only.
mod checkpoint;
mod connection;
mod notify;
mod reader;
mod sql;
mod time;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{Error, ErrorKind, Event};
use rusqlite::{Connection, Transaction};

pub use migrate::MIGRATIONS;

use notify::Notifier;
use reader::ReadPool;
use writer::Writer;

/// How hard SQLite works to make commits durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: an enqueue that returned survives a power loss. The default.
    #[default]
    Full,
    /// In WAL mode, commits survive a crash of the process but the last ones may be lost on a
    /// power loss or OS crash. Faster on slow disks.
    Normal,
}

/// Options of [`SqliteStorage::open`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// Durability of commits (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock held by another process (default 5 s).
    pub busy_timeout: Duration,
    /// Read connections kept open (default 2, at least 1).
    pub readers: usize,
    /// How often a process with subscribers (a runner) looks for what *other* processes on
    /// the file did that its workers must hear of: jobs inserted, jobs made available
    /// (promoted, retried, rescued), cancellations requested, queues resumed, leaders
    /// resigned, cron schedules changed (default 5 ms; `None`: never, and those wait for the
    /// runtime's polls, 1 s by default). A look costs a few microseconds when nothing changed.
    /// The first storage opened on a file in a process decides it for every storage of that
    /// process on the file. Every process writes its signals either way.
    pub cross_process_wakeups: Option<Duration>,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            readers: 2,
            cross_process_wakeups: Some(Duration::from_millis(5)),
        }
    }
}

/// Backlog's storage on one SQLite file. Cheap to clone: clones share the writer thread, the read
/// connections and the wake-up channel. The writer thread stops when the last clone is dropped
/// (or at [`SqliteStorage::close`]).
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReadPool>,
    notifier: Notifier,
    /// A directory deleted with the storage (test databases, see [`testing`]).
    remove_on_drop: Option<PathBuf>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Blocks until the queued writes are committed: they were accepted, so they must land.
        let _ = self.writer.shutdown();
        self.readers.close();
        if let Some(dir) = &self.remove_on_drop {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Opens (creating it and its directory if missing) the database file at `path`, switches it
    /// to WAL mode and starts the writer thread. Does not migrate: run
    /// [`migration_run`](backlog_storage::Storage::migration_run) (or `backlog migrate`).
    pub async fn open(
        path: impl AsRef<Path>,
        config: SqliteConfig,
    ) -> Result<SqliteStorage, Error> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, config, None))
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "opening SQLite failed").with_source(e))?
    }

    fn open_blocking(
        path: PathBuf,
        config: SqliteConfig,
        remove_on_drop: Option<PathBuf>,
    ) -> Result<SqliteStorage, Error> {
        let unavailable = |what: &str, e: std::io::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("could not {what} {}", path.display()),
            )
            .with_source(e)
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable("create the directory of", e))?;
        }
        let conn = connection::open_writer(&path, &config)?;
        let path = path
            .canonicalize()
            .map_err(|e| unavailable("resolve the path of", e))?;
        let checkpointer = connection::open_checkpointer(&path, &config)?;
        let writer = Writer::start(conn, checkpointer)?;
        Ok(SqliteStorage {
            inner: Arc::new(Inner {
                notifier: Notifier::for_path(&path, config.cross_process_wakeups),
                readers: Arc::new(ReadPool::new(path.clone(), config)),
                path,
                writer,
                remove_on_drop,
            }),
        })
    }

    /// The canonical path of the database file, for opening it with rusqlite (see
    /// [`SqliteStorage::job_insert_many_tx`]) or the `sqlite3` shell.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops the writer thread after the writes already queued are committed, and waits for it.
    /// This closes every clone of this storage: their later calls fail with
    /// [`ErrorKind::Unavailable`]. Dropping the last clone does the same.
    pub async fn close(self) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        drop(self);
        tokio::task::spawn_blocking(move || {
            let result = inner.writer.shutdown();
            inner.readers.close();
            result
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "closing SQLite failed").with_source(e))?
    }

    /// Runs `work` in the writer thread's next group-commit transaction.
    async fn write<F, R>(&self, work: F) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.writer.run(work).await
    }

    /// Like `write`, for a change that workers must hear of: `work` also returns the events
    /// it caused. They are written for the watchers of other processes sharing the file in
    /// the same transaction (`notify::record`), and sent to this process's subscribers after
    /// the commit.
    async fn write_notifying<F, R>(&self, work: F) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(R, Vec<Event>), Error> + Send + 'static,
        R: Send + 'static,
    {
        let origin = self.notifier().origin();
        let (value, events) = self
            .write(move |tx| {
                let (value, events) = work(tx)?;
                notify::record(tx, origin, &events)?;
                Ok((value, events))
            })
            .await?;
        self.notifier().send(events);
        Ok(value)
    }

    /// Like `write`, for claims and lease renewals, which need not survive a power loss.
    async fn write_relaxed<F, R>(&self, work: F) -> Result<R, Error>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.writer.run_relaxed(work).await
    }

    /// Runs `read` on a pooled read connection.
    async fn read<F, R>(&self, read: F) -> Result<R, Error>
    where
        F: FnOnce(&Connection) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        self.inner.readers.run(read).await
    }

    fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }
}
