//! The PostgreSQL backend of Backlog: [`PgStorage`] implements the
//! [`Storage`](backlog_storage::Storage) seam on top of `tokio-postgres` and a
//! `deadpool-postgres` connection pool.
//!
//! ```no_run
//! use backlog_postgres::{PgConfig, PgStorage};
//! use backlog_storage::{
//!     JobInsert, JobInsertManyParams, MigrationDirection, MigrationRunParams, Storage,
//! };
//!
//! # async fn run() -> Result<(), backlog_storage::Error> {
//! let storage = PgStorage::connect(
//!     "postgres://postgres@127.0.0.1:5432/app",
//!     PgConfig { schema: "backlog".into(), ..PgConfig::default() },
//! )
//! .await?;
//! storage
//!     .migration_run(MigrationRunParams { direction: MigrationDirection::Up, target: None })
//!     .await?;
//! let ids = storage
//!     .job_insert_many(JobInsertManyParams {
//!         jobs: vec![JobInsert::new("default", "send_email", serde_json::json!({"to": "a@b.c"}))],
//!     })
//!     .await?;
//! assert_eq!(ids.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! The modules mirror those of `backlog-sqlite` file by file: the statements of a
//! [`Storage`](backlog_storage::Storage) method live in the module of the same name in both
//! crates (the table is in `docs/architecture.md`). `storage.rs` holds `impl Storage`, which
//! forwards each method to its module, and the statement helpers they share:
//! `insert` (`job_insert_many`), `queue` (`job_fetch_available`, `queue_*`, `rate_limit_take`),
//! `fair` (claims of fair queues), `finish` (`job_finish_many`, `job_heartbeat_many`,
//! `job_progress_set`), `settle` (workflow dependants and batch counts of finalized jobs),
//! `cancel` (`job_cancel`, the `*_by_filter` writes, `job_purge_many`, `job_cancel_requested`),
//! `maintenance` (`job_schedule`, `job_next_scheduled_at`, `job_rescue`,
//! `job_delete_finalized`), `inspect` (`job_get`, `job_list`, `job_count_by_state`,
//! `job_archive_get`), `idempotency`, `workflow`, `batch`, `leader_cron`, `dashboard`, `migrate`,
//! `tx` (transactional enqueue), `row`, `error`, `bench` and `testing`.
//!
//! PostgreSQL only: `listener` (the `LISTEN` task), `wakeup` (the coalesced `NOTIFY` task),
//! `plan` (generic plans for the hot statements), `gather` (single enqueues made at the same
//! moment share a statement and a commit), `insert_copy` (big batches of plain jobs by binary
//! `COPY`), `insert_fetch` (`job_insert_and_fetch` in one transaction and one round trip; SQLite
//! keeps the trait's default, an insert then a claim) and `tx_sqlx` (enqueue on an sqlx
//! connection, feature `sqlx`).
//!
//! Most methods run one statement, some several (the limited fetch, settling, workflow
//! inserts). Each statement is kept in its own file under `sql/`, named after its method where
//! it has one, and prepared once per pooled connection (`prepare_cached`). Table
//! names in SQL are unqualified: each pooled connection is opened with `search_path` set to
//! [`PgConfig::schema`], so several Backlog installations (or parallel tests) can share a
//! database in different schemas.
//!
//! # Why `plan_cache_mode = force_custom_plan`
//!
//! Pooled connections are also opened with `plan_cache_mode=force_custom_plan`. Prepared
//! statements are otherwise switched to a *generic* plan after five executions, chosen from the
//! table statistics of the moment. Measured on the development machine: when the job table had
//! been `ANALYZE`d while empty, the prepared claim query cached a generic plan with a sequential
//! scan and a sort instead of the partial fetch index; once the table filled up, each claim took
//! 2–10 s and workers stalled for ~30 s. Custom plans cost a few tens of microseconds of planning
//! per execution and always see the actual queue name and limit (`tests/plan_cache.rs` checks the
//! setting). Custom plans still depend on statistics, so every hot statement is also shaped to be
//! index-driven without them: `tests/plans.rs` pins each plan on a never-analyzed table, on
//! one analyzed while empty and on one analyzed while busy.
//!
//! Once so shaped, the hot statements (the claim, the inserts, the outcome write, the heartbeat)
//! no longer need custom plans, and planning them afresh was a large share of their cost (the
//! idempotent insert's planning took twice its execution). They switch their connection to a
//! generic plan for the one statement (`src/plan.rs`), with both plans pinned by `tests/plans.rs`;
//! everything else stays custom-planned. A generic plan is made once per connection, at the
//! statement's first execution, and inserts never invalidate it; made on an empty table (a
//! fresh install, a `TRUNCATE`), it took a sequential scan for the claim's `UPDATE` and the
//! outcome write's lock, and kept scanning the whole table on every call as it grew. So
//! sequential scans are off while these statements are planned, and `tests/plans.rs` also plans
//! them on an empty table and explains them after it filled.
//!
//! # Wake-ups
//!
//! Inserting or scheduling available jobs sends `NOTIFY backlog_insert_<schema>` with the queue
//! name as payload, from the same statement; resuming a paused queue sends `resumed:<queue>`
//! (queue names cannot contain `:`). [`Storage::event_subscribe`](backlog_storage::Storage::event_subscribe)
//! starts one background task with a dedicated connection that `LISTEN`s and forwards the
//! notifications; it stops when the last clone of the [`PgStorage`] is dropped.
//!
//! # Transactional enqueue
//!
//! [`PgStorage::job_insert_many_tx`] inserts jobs inside the caller's own transaction, so a job
//! exists if and only if the caller's transaction commits (and the wake-up is sent on commit).

// Mirrored by backlog-sqlite, module for module (see "Layout" above).
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

// PostgreSQL only.
mod gather;
mod insert_copy;
mod insert_fetch;
mod listener;
mod plan;
#[cfg(feature = "sqlx")]
mod tx_sqlx;
mod wakeup;

use std::sync::Arc;

use backlog_storage::{Error, ErrorKind, Event};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{broadcast, watch, Mutex};
use tokio_postgres::NoTls;

pub use migrate::MIGRATIONS;

/// The longest schema name accepted, so that the notification channel
/// `backlog_insert_<schema>` fits PostgreSQL's 63-byte identifier limit.
pub const MAX_SCHEMA_LEN: usize = 48;

/// Options of [`PgStorage::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// The schema holding Backlog's tables, created by the migrations if missing: lowercase
    /// letters, digits and `_`, starting with a letter or `_`, at most 48 characters.
    pub schema: String,
    /// The most pooled connections open at once (the listener's dedicated connection is
    /// extra). Connections are opened only when needed. Default 10, sized from what a runner
    /// uses at once: one claim per queue, one completion batch, one heartbeat, up to three
    /// maintenance services (on the leader), and the rest for the application's enqueues and
    /// jobs' progress writes. Mind PostgreSQL's own `max_connections` (100 by default) when many
    /// processes share the database: each may open this many plus its listener.
    pub max_connections: usize,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            schema: "public".to_owned(),
            max_connections: 10,
        }
    }
}

/// A Backlog [`Storage`](backlog_storage::Storage) backed by PostgreSQL.
///
/// Cheap to clone: clones share one connection pool and one listener.
#[derive(Clone)]
pub struct PgStorage {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Used to open the listener's dedicated connection (same options as the pool's).
    pg_config: tokio_postgres::Config,
    schema: String,
    channel: String,
    /// The listener's broadcast sender, once started. Read without a lock by `wake`, which
    /// must reach this process's subscribers even while another subscription is being made.
    events: std::sync::OnceLock<broadcast::Sender<Event>>,
    /// Held while the listener is started, so that it is started once.
    subscribing: Mutex<()>,
    /// Queue names for the wake-up task (started on first pooled insert); see `wakeup.rs`.
    wakeups: std::sync::OnceLock<tokio::sync::mpsc::Sender<wakeup::Wakeup>>,
    /// Backend pid of the wake-up task's connection (0: none yet), shared with the listener.
    wakeup_pid: Arc<std::sync::atomic::AtomicI32>,
    /// Queues whose last fetch found settings that limit them (pause, limits, fair): their
    /// fetches go straight to the limited path, or to the one-round-trip fair claim; see
    /// `queue.rs`.
    limited: std::sync::Mutex<std::collections::HashMap<String, queue::Restricted>>,
    /// Single enqueues waiting to share a statement and a commit; see `gather.rs`.
    gather: gather::Gather,
    /// Whether the latest outcome write met jobs of workflows or batches: then the next one
    /// goes straight to the settling transaction instead of being deferred (see finish.rs).
    settling: std::sync::atomic::AtomicBool,
    /// Whether bulk `COPY`s go row by row, from the server's version (see `insert_copy.rs`).
    copy_row_by_row: tokio::sync::OnceCell<bool>,
    /// Never sent on: dropping it (with the last clone of the storage) stops the listener.
    _shutdown: watch::Sender<()>,
    shutdown_rx: watch::Receiver<()>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("schema", &self.inner.schema)
            .field("pool", &self.inner.pool.status())
            .finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Connects to the database at `url` (a `postgres://` URL or a `key=value` string) and checks
    /// that one connection can be opened. Does not migrate.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a malformed URL or schema name,
    /// [`ErrorKind::Unavailable`] when the database cannot be reached.
    pub async fn connect(url: &str, config: PgConfig) -> Result<PgStorage, Error> {
        validate_schema(&config.schema)?;
        let mut pg_config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, "invalid PostgreSQL connection URL").with_source(e)
        })?;
        // See the crate docs for why custom plans are forced.
        let session = format!(
            "-c search_path={} -c plan_cache_mode=force_custom_plan",
            config.schema
        );
        let options = match pg_config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        pg_config.options(&options);

        let manager = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "could not build the connection pool",
                )
                .with_source(e)
            })?;
        drop(pool.get().await.map_err(error::pool)?);

        let (shutdown, shutdown_rx) = watch::channel(());
        let channel = format!("backlog_insert_{}", config.schema);
        Ok(PgStorage {
            inner: Arc::new(Inner {
                pool,
                pg_config,
                schema: config.schema,
                channel,
                events: std::sync::OnceLock::new(),
                subscribing: Mutex::new(()),
                wakeups: std::sync::OnceLock::new(),
                wakeup_pid: Arc::default(),
                limited: std::sync::Mutex::default(),
                gather: gather::Gather::default(),
                settling: Default::default(),
                copy_row_by_row: tokio::sync::OnceCell::new(),
                _shutdown: shutdown,
                shutdown_rx,
            }),
        })
    }

    /// The connection pool, for running your own queries on Backlog's schema (its connections
    /// have `search_path` set to it).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The schema holding Backlog's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The `LISTEN`/`NOTIFY` channel on which wake-ups are sent: `backlog_insert_<schema>`.
    pub fn notify_channel(&self) -> &str {
        &self.inner.channel
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.inner.pool.get().await.map_err(error::pool)
    }
}

/// Checks a schema name: `[a-z_][a-z0-9_]*`, at most [`MAX_SCHEMA_LEN`] characters. The name is
/// spliced into `CREATE SCHEMA` and `LISTEN`, so nothing else is allowed.
fn validate_schema(schema: &str) -> Result<(), Error> {
    let valid = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_LEN
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "invalid schema name `{schema}`: use 1 to {MAX_SCHEMA_LEN} lowercase letters, \
                 digits and `_`, starting with a letter or `_`"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_schema;

    #[test]
    fn schema_names() {
        for ok in [
            "public",
            "backlog",
            "_x",
            "bt_0123456789abcdef",
            &"a".repeat(48),
        ] {
            assert!(validate_schema(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Public", "1abc", "a-b", "a b", "a\"b", &"a".repeat(49)] {
            assert!(validate_schema(bad).is_err(), "{bad}");
        }
    }
}
