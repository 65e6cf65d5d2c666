//! The worker runtime: a [`Runner`] fetches jobs for its queues, runs them on tokio with
//! concurrency limits, records outcomes in batches and shuts down gracefully.
//!
//! Inside a runner, each queue has a **Producer** that claims jobs in batches sized to
//! its free capacity; each job runs in its own task (panics are caught); a single
//! **Completer** writes outcomes in batches; a **Heartbeater** renews the
//! leases of running jobs; the **Scheduler** and
//! **Rescuer** keep scheduled and stalled jobs moving.

mod admission;
mod completer;
mod depth;
mod events;
mod executor;
mod heartbeater;
mod notifier;
mod producer;
mod registration;
mod until;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backlog_storage::Storage;
use backlog_types::{JobId, LeaseToken, QueueName};
use tokio::sync::{broadcast, mpsc, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use events::{JobEvent, RunnerStats, ShutdownReport, StatsSnapshot};
pub use until::shutdown_signal;

use crate::maintenance::{self, MaintenanceConfig};
use crate::{Error, Workers};

/// Settings of one queue in a runner.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Most jobs of this queue running at once in this process.
    pub max_workers: usize,
    /// Most jobs claimed per fetch for free slots (defaults to `max_workers`, capped at 1,000).
    pub fetch_batch: Option<usize>,
    /// Claiming ahead: how many jobs a fetch may claim beyond the free slots, to wait in this
    /// process for a slot (their leases are renewed like running jobs'; at shutdown they are
    /// handed back unstarted, keeping their place). One claim then feeds many completions, the
    /// biggest lever on throughput with short jobs and few slots. See [`Prefetch`].
    pub prefetch: Prefetch,
    /// The backoff of this queue's jobs whose job and worker name none. Default
    /// [`Backoff::Inherit`](crate::Backoff::Inherit): the runner's.
    pub backoff: crate::Backoff,
}

/// How far ahead of its free slots a queue claims ([`QueueConfig::prefetch`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prefetch {
    /// Claim ahead only while jobs are short: as many jobs as this process is expected to
    /// start within [`PREFETCH_WAIT_BUDGET`], judged from the moving average of the queue's
    /// recent attempt durations (up to 1,000 in all per fetch). Nothing is claimed ahead
    /// before the first attempts finish, nor for jobs that take long, so one process never
    /// hoards work another could start: a job waits in the buffer about the budget at most,
    /// and is handed back if it ever waits [`PREFETCH_MAX_WAIT`].
    #[default]
    Auto,
    /// Never claim ahead: each fetch claims at most the free slots.
    Off,
    /// Claim up to this many jobs ahead, whatever the jobs' durations (they may still be
    /// handed back after [`PREFETCH_MAX_WAIT`]).
    Fixed(usize),
}

/// With [`Prefetch::Auto`], how long the last of the jobs claimed ahead is expected to wait for
/// a slot.
pub const PREFETCH_WAIT_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

/// The longest a job claimed ahead waits for a slot before it is handed back to the queue
/// (unstarted, keeping its place), for another process to take.
pub const PREFETCH_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl QueueConfig {
    /// A queue running up to `max_workers` jobs at once.
    pub fn new(max_workers: usize) -> QueueConfig {
        QueueConfig {
            max_workers,
            fetch_batch: None,
            prefetch: Prefetch::Auto,
            backoff: crate::Backoff::Inherit,
        }
    }

    /// This queue's backoff (see [`QueueConfig::backoff`]).
    pub fn backoff(mut self, backoff: crate::Backoff) -> QueueConfig {
        self.backoff = backoff;
        self
    }
}

impl From<usize> for QueueConfig {
    fn from(max_workers: usize) -> Self {
        QueueConfig::new(max_workers)
    }
}

/// Settings of a [`Runner`], with defaults suited to production.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Recorded in each attempted job's `attempted_by`. Default: `hostname:pid:random`.
    pub worker_id: String,
    /// Most jobs running at once across all queues of this process (default: no limit beyond
    /// each queue's).
    pub max_workers_total: Option<usize>,
    /// How long a claimed job's lease lasts; heartbeats renew it every third of that. A job
    /// whose worker stops heartbeating is rescued once the lease has expired. Default 30 s.
    pub lease: Duration,
    /// How often producers poll when no wake-up signal arrives: signals may be lost (a
    /// PostgreSQL listener reconnecting, a SQLite watcher falling behind, or processes on
    /// SQLite with [`cross_process_wakeups`](crate::sqlite::SqliteConfig::cross_process_wakeups)
    /// off). Default 1 s.
    pub poll_interval: Duration,
    /// Producers wait up to this long for more capacity before fetching a small batch, so that
    /// fetches stay batched under load. Default 2 ms.
    pub fetch_cooldown: Duration,
    /// Most outcomes written per completer batch. Default 1,000.
    pub complete_batch: usize,
    /// Whether this runner takes part in the leader election for the maintenance services
    /// (scheduler, rescuer, cron enqueuer), which run on the elected leader only. Runners with
    /// `false` never lead. Default true.
    pub maintenance: bool,
    /// Maintenance settings.
    pub maintenance_config: MaintenanceConfig,
    /// How long a job may keep running after its cancellation was requested
    /// ([`Job::cancelled`](crate::Job::cancelled) fired) before its future is dropped. Either
    /// way the attempt ends `cancelled`. Default 5 s.
    pub cancel_grace: Duration,
    /// How often the runner polls the database for cancellation requests of the jobs it holds
    /// (one read, only while it holds jobs). Requests normally arrive at once through the
    /// wake-up path (in this process, by `NOTIFY` on PostgreSQL, by the file's watcher on
    /// SQLite); this covers a lost signal within a second. `None` leaves it to the heartbeat.
    /// Default 1 s.
    pub cancel_poll_interval: Option<Duration>,
    /// Largest serialized result a job may record with
    /// [`Job::set_result`](crate::Job::set_result). Default 64 KiB.
    pub max_result_bytes: usize,
    /// How often the `backlog_queue_depth` gauges of the unfinished states (available,
    /// scheduled, running, retryable) are refreshed, by runners with `maintenance` on: one count
    /// per queue and state through the partial indexes holding those jobs
    /// ([`Storage::job_count_unfinished`](backlog_storage::Storage::job_count_unfinished)), so
    /// its cost follows the jobs waiting and running, not the history. `None` turns it off.
    /// Default 30 s.
    pub queue_depth_interval: Option<Duration>,
    /// The backoff of jobs whose job, worker and queue name none. Default
    /// [`Backoff::default`](crate::Backoff::default): exponential from 1 s to 6 h, 10 % jitter.
    pub backoff: crate::Backoff,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            worker_id: default_worker_id(),
            max_workers_total: None,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            fetch_cooldown: Duration::from_millis(2),
            complete_batch: 1000,
            maintenance: true,
            maintenance_config: MaintenanceConfig::default(),
            cancel_grace: Duration::from_secs(5),
            cancel_poll_interval: Some(Duration::from_secs(1)),
            max_result_bytes: 64 * 1024,
            queue_depth_interval: Some(Duration::from_secs(30)),
            backoff: crate::Backoff::default(),
        }
    }
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}:{:04x}", std::process::id(), fastrand::u16(..))
}

/// Builds a [`Runner`].
///
/// ```no_run
/// # async fn example(storage: backlog::sqlite::SqliteStorage) -> Result<(), Box<dyn std::error::Error>> {
/// # use backlog::{Job, JobArgs, JobError, Worker, Workers, Runner};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
/// # impl JobArgs for Ping { const KIND: &'static str = "ping"; }
/// # struct Pinger;
/// # impl Worker for Pinger { type Args = Ping;
/// #   async fn work(&self, _job: Job<Ping>) -> Result<(), JobError> { Ok(()) } }
/// let runner = Runner::builder(std::sync::Arc::new(storage), Workers::new().register(Pinger))
///     .queue("default", 20)
///     .queue("emails", 5)
///     .start()?;
/// // Runs until Ctrl-C or SIGTERM, then gives running jobs 30 s to finish:
/// runner.run_until_signal(std::time::Duration::from_secs(30)).await;
/// # Ok(()) }
/// ```
pub struct RunnerBuilder {
    storage: Arc<dyn Storage>,
    workers: Workers,
    queues: Vec<(String, QueueConfig)>,
    config: RunnerConfig,
}

impl RunnerBuilder {
    /// Adds a queue to work, with its per-process concurrency limit.
    pub fn queue(mut self, name: impl Into<String>, config: impl Into<QueueConfig>) -> Self {
        self.queues.push((name.into(), config.into()));
        self
    }

    /// This process's worker id, recorded in each job's `attempted_by` and the worker list.
    /// Default `host:pid:random`.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.config.worker_id = id.into();
        self
    }

    /// Most jobs running at once in this process, over all its queues (each queue's own limit
    /// still applies). Default: no process-wide limit.
    pub fn max_workers_total(mut self, n: usize) -> Self {
        self.config.max_workers_total = Some(n);
        self
    }

    /// How long a claim lasts without a heartbeat; heartbeats renew it every third of that.
    /// A crashed worker's jobs are rescued this long after its last heartbeat. Default 30 s.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Longest a queue with no wake-up waits before fetching again. Default 1 s.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.config.poll_interval = every;
        self
    }

    /// Whether this process takes part in running the maintenance services (scheduler,
    /// rescuer, cleaner, cron, leader election). Default true; turn it off on processes that
    /// should only run jobs, as long as some process keeps it on.
    pub fn maintenance(mut self, on: bool) -> Self {
        self.config.maintenance = on;
        self
    }

    /// How long finished jobs stay in the job table before the cleaner deletes (or archives)
    /// them. Default: completed 24 h, cancelled and discarded 7 days.
    pub fn retention(mut self, retention: crate::maintenance::Retention) -> Self {
        self.config.maintenance_config.retention = retention;
        self
    }

    /// A job rescued this many times is discarded as poison. Default 5; 0 turns it off.
    pub fn poison_threshold(mut self, rescues: i32) -> Self {
        self.config.maintenance_config.poison_threshold = rescues;
        self
    }

    /// How long a job may keep running after its cancellation was requested before it is
    /// dropped. Default 5 s.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// The backoff of jobs whose job, worker and queue name none (the global default).
    /// Default: exponential from 1 s to 6 h with 10 % jitter.
    pub fn backoff(mut self, backoff: crate::Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Largest serialized result a job may record. Default 64 KiB.
    pub fn max_result_bytes(mut self, bytes: usize) -> Self {
        self.config.max_result_bytes = bytes;
        self
    }

    /// Replaces the runner settings.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the runner settings in place, for the knobs without a method of their own
    /// (the maintenance services' intervals and batch sizes, the completion batch...).
    pub fn configure(mut self, f: impl FnOnce(&mut RunnerConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Validates the configuration and starts the runner's tasks on the current tokio runtime.
    pub fn start(self) -> Result<Runner, Error> {
        let RunnerBuilder {
            storage,
            workers,
            mut queues,
            config,
        } = self;
        if queues.is_empty() {
            queues.push((QueueName::DEFAULT.to_owned(), QueueConfig::new(10)));
        }
        if workers.is_empty() {
            return Err(Error::Config(
                "no workers registered: add at least one with Workers::register".into(),
            ));
        }
        let mut seen = HashMap::new();
        for (name, queue) in &queues {
            QueueName::new(name.clone()).map_err(|e| Error::Config(e.to_string()))?;
            if queue.max_workers == 0 {
                return Err(Error::Config(format!(
                    "queue `{name}`: max_workers must be at least 1"
                )));
            }
            if seen.insert(name.clone(), ()).is_some() {
                return Err(Error::Config(format!("queue `{name}` is configured twice")));
            }
        }
        if config.maintenance_config.leader_ttl < Duration::from_millis(300) {
            return Err(Error::Config(
                "maintenance_config.leader_ttl must be at least 300 ms".into(),
            ));
        }
        if config.lease < Duration::from_millis(300) {
            return Err(Error::Config("lease must be at least 300 ms".into()));
        }
        Ok(Runner::spawn(storage, workers, queues, config))
    }
}

/// One job currently held by this process.
pub(crate) struct Held {
    /// The execution's lease token, presented by every heartbeat.
    pub(crate) lease_token: LeaseToken,
    /// Cancelled when the job must stop (lease lost, shutdown deadline).
    pub(crate) stop: CancellationToken,
    /// Cancelled when a user requested the job's cancellation; handed to the job's code.
    pub(crate) cancel: CancellationToken,
}

/// State shared by a runner's tasks.
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) workers: Workers,
    pub(crate) config: RunnerConfig,
    pub(crate) held: Mutex<HashMap<JobId, Held>>,
    pub(crate) completions: mpsc::Sender<completer::Completion>,
    pub(crate) events: broadcast::Sender<JobEvent>,
    pub(crate) stats: RunnerStats,
    /// Stop fetching and maintenance.
    pub(crate) shutdown: CancellationToken,
    /// Abort jobs still running after the grace period.
    pub(crate) abort: CancellationToken,
    pub(crate) jobs: TaskTracker,
    pub(crate) global_limit: Option<Arc<Semaphore>>,
    /// Per-kind concurrency limits of this process.
    pub(crate) kind_limits: HashMap<&'static str, admission::KindLimit>,
    pub(crate) scheduler_hint: Arc<Notify>,
    /// Asks the heartbeater to beat now (cancellation signals may have been missed).
    pub(crate) heartbeat_now: Arc<Notify>,
    /// What became of held jobs once shutdown began, for [`ShutdownReport`].
    pub(crate) stopping: Mutex<ShutdownReport>,
    /// Storage calls of this runner that failed so far. A job claimed ahead that waited across
    /// a failure is handed back instead of started: the database may have lost its claim
    /// (claims commit asynchronously), and the job may already be claimed again elsewhere.
    pub(crate) storage_failures: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Notes a failed storage call (see `storage_failures`).
    pub(crate) fn storage_failed(&self) {
        self.storage_failures
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Shared {
    /// Fires the cancellation tokens of the held jobs among `ids`; returns how many.
    pub(crate) fn request_cancel(&self, ids: &[JobId]) -> usize {
        let Ok(held) = self.held.lock() else { return 0 };
        ids.iter()
            .filter_map(|id| held.get(id))
            .inspect(|h| h.cancel.cancel())
            .count()
    }
}

/// A running set of producers, job tasks and services. Stop it with [`Runner::shutdown`].
pub struct Runner {
    shared: Arc<Shared>,
    producers: Vec<JoinHandle<()>>,
    completer: JoinHandle<()>,
    completer_stop: CancellationToken,
    background: Vec<JoinHandle<()>>,
    background_stop: CancellationToken,
    /// Resigns leadership at shutdown, so it is awaited rather than aborted.
    elector: Option<JoinHandle<()>>,
    leader: watch::Receiver<bool>,
    registered: watch::Receiver<bool>,
}

impl Runner {
    /// Starts building a runner over `storage` (a backend by value, an `Arc` of one, or an
    /// `Arc<dyn Storage>`: see [`IntoStorage`](crate::IntoStorage)) with these workers.
    pub fn builder(storage: impl crate::IntoStorage, workers: Workers) -> RunnerBuilder {
        RunnerBuilder {
            storage: storage.into_storage(),
            workers,
            queues: Vec::new(),
            config: RunnerConfig::default(),
        }
    }

    fn spawn(
        storage: Arc<dyn Storage>,
        workers: Workers,
        queues: Vec<(String, QueueConfig)>,
        config: RunnerConfig,
    ) -> Runner {
        let (completions, completions_rx) = mpsc::channel(config.complete_batch.max(1) * 4);
        let (events, _) = broadcast::channel(4096);
        let kind_limits = admission::kind_limits(&workers);
        let shared = Arc::new(Shared {
            storage,
            workers,
            kind_limits,
            global_limit: config
                .max_workers_total
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            config,
            held: Mutex::new(HashMap::new()),
            completions,
            events,
            stats: RunnerStats::default(),
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            jobs: TaskTracker::new(),
            scheduler_hint: Arc::new(Notify::new()),
            heartbeat_now: Arc::new(Notify::new()),
            stopping: Mutex::new(ShutdownReport::default()),
            storage_failures: std::sync::atomic::AtomicU64::new(0),
        });
        let completer_stop = CancellationToken::new();
        let completer = tokio::spawn(completer::run(
            shared.clone(),
            completions_rx,
            completer_stop.clone(),
        ));
        let background_stop = CancellationToken::new();
        let mut background = vec![tokio::spawn(heartbeater::run(
            shared.clone(),
            background_stop.clone(),
        ))];
        if let Some(every) = shared.config.cancel_poll_interval {
            background.push(tokio::spawn(heartbeater::poll_cancellations(
                shared.clone(),
                every,
                background_stop.clone(),
            )));
        }
        let sizes: Vec<(String, usize)> = queues
            .iter()
            .map(|(q, c)| (q.clone(), c.max_workers))
            .collect();
        let (registered_tx, registered) = watch::channel(false);
        background.push(tokio::spawn(registration::run(
            shared.clone(),
            registration::report(&shared, &sizes),
            registered_tx,
            background_stop.clone(),
        )));
        let mut wakers = HashMap::new();
        let mut producers = Vec::new();
        let (ready_tx, ready) = watch::channel(false);
        for (name, queue) in queues {
            let wake = Arc::new(Notify::new());
            wakers.insert(name.clone(), wake.clone());
            producers.push(tokio::spawn(producer::run(
                shared.clone(),
                name,
                queue,
                wake,
                ready.clone(),
            )));
        }
        background.push(tokio::spawn(notifier::run(
            shared.clone(),
            wakers,
            ready_tx,
        )));
        let (leader_tx, leader) = watch::channel(false);
        let mut elector = None;
        if shared.config.maintenance {
            elector = Some(tokio::spawn(maintenance::run_elector(
                shared.storage.clone(),
                shared.config.worker_id.clone(),
                shared.config.maintenance_config.leader_ttl,
                leader_tx,
                shared.shutdown.clone(),
            )));
            background.push(tokio::spawn(maintenance::supervise(
                shared.storage.clone(),
                shared.config.maintenance_config.clone(),
                shared.scheduler_hint.clone(),
                leader.clone(),
                shared.shutdown.clone(),
            )));
            if let Some(interval) = shared.config.queue_depth_interval {
                background.push(tokio::spawn(depth::run(shared.clone(), interval)));
            }
        }
        tracing::info!(worker_id = %shared.config.worker_id, backend = shared.storage.backend_name(), "backlog runner started");
        Runner {
            shared,
            producers,
            completer,
            completer_stop,
            background,
            background_stop,
            elector,
            leader,
            registered,
        }
    }

    /// Whether this runner is currently the leader, running the maintenance services.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Follows this runner's leadership: `true` while it leads. Await
    /// [`changed`](watch::Receiver::changed) to be told of elections and step-downs.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Follows this runner's registration in the database's worker list (what the dashboard's
    /// Workers page shows): `true` once its first report was written.
    pub fn registration(&self) -> watch::Receiver<bool> {
        self.registered.clone()
    }

    /// Receives an event for every attempt whose outcome was recorded. Slow receivers miss
    /// events (see [`broadcast`]); use [`Runner::stats`] for exact counts.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.shared.events.subscribe()
    }

    /// Counters of what this runner has done so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// This runner's worker id.
    pub fn worker_id(&self) -> &str {
        &self.shared.config.worker_id
    }

    /// Stops gracefully: no new jobs are fetched; jobs claimed ahead of a free slot are handed
    /// back unstarted; running jobs get up to `grace` to finish; jobs still running then are
    /// interrupted and handed back as retryable (their attempt is recorded as interrupted);
    /// every outcome is written before this returns. If the database is unreachable at that
    /// point, the jobs stay `running` and are rescued when their lease expires: never lost,
    /// never completed twice. The report says which jobs went which way.
    pub async fn shutdown(self, grace: Duration) -> ShutdownReport {
        let Runner {
            shared,
            producers,
            completer,
            completer_stop,
            background,
            background_stop,
            elector,
            leader: _,
            registered: _,
        } = self;
        let before = shared.stats.snapshot();
        shared.shutdown.cancel();
        // Resign first, so another process takes over maintenance while our jobs finish.
        if let Some(elector) = elector {
            let _ = elector.await;
        }
        for producer in producers {
            let _ = producer.await;
        }
        shared.jobs.close();
        if tokio::time::timeout(grace, shared.jobs.wait())
            .await
            .is_err()
        {
            let running = shared.held.lock().map(|h| h.len()).unwrap_or(0);
            tracing::warn!(
                running,
                "shutdown grace period over: interrupting running jobs"
            );
            shared.abort.cancel();
            shared.jobs.wait().await;
        }
        completer_stop.cancel();
        let _ = completer.await;
        background_stop.cancel();
        for task in background {
            task.abort();
            let _ = task.await;
        }
        registration::leave(&shared).await;
        // Jobs handed back or released by the last outcomes must wake other processes now,
        // not at their next poll, and this process may be about to exit.
        shared.storage.flush_wakeups().await;
        let mut report = shared
            .stopping
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        report.recorded = shared.stats.snapshot().since(&before);
        report.interrupted.sort_unstable();
        report.handed_back.sort_unstable();
        report.unrecorded.sort_unstable();
        tracing::info!(
            worker_id = %shared.config.worker_id,
            finished = report.recorded.finished(),
            interrupted = report.interrupted.len(),
            handed_back = report.handed_back.len(),
            unrecorded = report.unrecorded.len(),
            "backlog runner stopped"
        );
        report
    }
}
