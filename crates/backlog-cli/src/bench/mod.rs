//! `backlog bench`: enqueue rates, drain throughput, steady state and latency, the database's own
//! ceiling and the drain beside a big history, on either backend, printed as a table or as one
//! JSON document (`--json`). Every number in `docs/benchmarks.md` comes from here.

mod ceiling;
mod dashboard;
mod fair;
mod history;
mod latency;
mod measurement;
mod scenarios;
#[cfg(feature = "server")]
mod server;
mod workflow;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::{Job, JobArgs, JobError, Runner, Worker, Workers};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::database::{Backend, Database};
pub use latency::{producer, ProducerArgs};
use measurement::{Measurement, Report};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where to run: defaults to a fresh SQLite file in the temp directory. On PostgreSQL the
    /// tables live in --schema, which is emptied first (refused when it holds anything the
    /// bench did not create, unless --force).
    #[arg(long, short = 'd', env = "BACKLOG_BENCH_DATABASE_URL")]
    database: Option<String>,
    /// PostgreSQL schema for the benchmark's tables.
    #[arg(long, default_value = "backlog_bench")]
    schema: String,
    /// Empty the database even when it holds jobs, queue settings or cron schedules that the
    /// bench did not create.
    #[arg(long)]
    force: bool,
    /// Which measurements to run (repeatable); by default bulk, single, drain, steady and
    /// latency.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Jobs for the bulk-enqueue and drain measurements.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Jobs per bulk insert.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent producers for the bulk-enqueue measurement.
    #[arg(long, default_value_t = 1)]
    bulk_producers: usize,
    /// Jobs of the bulk scenario's second figure: one `Client::enqueue_many` call holding them
    /// all, the median of five calls each on an emptied table (0: skip it).
    #[arg(long, default_value_t = 20_000)]
    single_call_jobs: usize,
    /// Concurrent producers for the single-enqueue measurement.
    #[arg(long, default_value_t = 16)]
    producers: usize,
    /// Jobs for the single-enqueue measurement.
    #[arg(long, default_value_t = 20_000)]
    single_jobs: usize,
    /// Jobs running at once in the worker, one run per value (`--concurrency 32,1000`): every
    /// worker scenario runs once at each. Default: the drain, the ceiling's drain and the
    /// history's drains at both 32 (what applications run) and 1,000 (the old default); the
    /// other worker scenarios at 1,000.
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Most jobs claimed per fetch for free slots (default: the concurrency, capped at 1,000).
    #[arg(long)]
    fetch_batch: Option<usize>,
    /// Claiming ahead of free slots: `auto` (while jobs are short), `off`, or a number.
    #[arg(long, default_value = "auto", value_parser = parse_prefetch)]
    prefetch: backlog::Prefetch,
    /// Seconds of the steady-state measurement.
    #[arg(long, default_value_t = 60)]
    steady_secs: u64,
    /// Seconds per offered load of the latency measurement.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Offered loads (jobs/s) for the latency measurement.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100, 1000])]
    rates: Vec<u32>,
    /// Jobs of the fan-out / fan-in workflow measurement.
    #[arg(long, default_value_t = 10_000)]
    workflow_jobs: usize,
    /// Rounds of the fair scenario, each a fair and a plain drain; medians are reported.
    #[arg(long, default_value_t = 3)]
    fair_rounds: usize,
    /// Finished (completed) jobs written into the job table before the history scenario's
    /// drains.
    #[arg(long, default_value_t = 10_000_000)]
    history_jobs: u64,
    /// Concurrent connections of the PostgreSQL ceiling measurements and producers of the bulk
    /// enqueue measured beside them (SQLite's ceiling uses one connection: one writer).
    #[arg(long, default_value_t = 4)]
    ceiling_clients: usize,
    /// Print one JSON document with every measurement instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Bulk enqueue in batches.
    Bulk,
    /// Single-job enqueues from concurrent producers.
    Single,
    /// Drain a queue of no-op jobs already enqueued.
    Drain,
    /// Producers and workers together at the highest rate the worker keeps up with.
    Steady,
    /// Enqueue-to-start latency at steady offered loads, enqueued in this process and then by
    /// another one.
    Latency,
    /// Dashboard and API reads on a table of --jobs jobs (not in the default set).
    Dashboard,
    /// Insert and run a fan-out / fan-in workflow of --workflow-jobs jobs (not in the default
    /// set).
    Workflow,
    /// Fair queue: --jobs jobs of one partition key, then 50 keys of 10 jobs; how early the
    /// small keys run and the drain rate beside a plain drain (not in the default set).
    Fair,
    /// What the database itself does on this machine with raw SQL and durable commits, beside
    /// Backlog's bulk enqueue and drain (not in the default set).
    Ceiling,
    /// The bulk enqueue and drain of a backlog of --jobs with --history-jobs finished jobs in
    /// the table, then single enqueue, steady state and latency beside the history and a
    /// waiting backlog of --jobs; each beside the same on an empty table (not in the default
    /// set).
    History,
    /// Through the ZeroMQ server: enqueue over the wire, single and batched (not in the
    /// default set; `server` feature).
    #[cfg(feature = "server")]
    ServerEnqueue,
    /// Through the ZeroMQ server: drain --jobs jobs by remote workers (not in the default set).
    #[cfg(feature = "server")]
    ServerDrain,
    /// Through the ZeroMQ server: enqueue→start latency over the wire at --rates (not in the
    /// default set).
    #[cfg(feature = "server")]
    ServerLatency,
    /// Through the ZeroMQ server: the memory of a separate `backlog serve --zmq` process with a
    /// backlog of --jobs jobs and 1,000 idle sessions (not in the default set; Linux).
    #[cfg(feature = "server")]
    ServerMemory,
}

/// The benchmark's job: carries its enqueue time so the worker can measure latency.
#[derive(Serialize, Deserialize)]
pub(crate) struct Noop {
    /// Nanoseconds since the Unix epoch when the enqueue call started (0: not measured).
    sent_ns: u64,
}

impl JobArgs for Noop {
    const KIND: &'static str = "bench_noop";
    fn default_opts() -> backlog::InsertOpts {
        backlog::InsertOpts::new().queue("bench")
    }
}

/// Counts runs and, for measured jobs, records enqueue-to-start latency.
#[derive(Clone, Default)]
pub(crate) struct NoopWorker {
    pub(crate) ran: Arc<AtomicU64>,
    pub(crate) latencies: Arc<std::sync::Mutex<Vec<Duration>>>,
}

impl Worker for NoopWorker {
    type Args = Noop;
    async fn work(&self, job: Job<Noop>) -> Result<(), JobError> {
        if job.args.sent_ns > 0 {
            let waited = unix_ns().saturating_sub(job.args.sent_ns);
            if let Ok(mut l) = self.latencies.lock() {
                l.push(Duration::from_nanos(waited));
            }
        }
        self.ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn parse_prefetch(s: &str) -> Result<backlog::Prefetch, String> {
    match s {
        "auto" => Ok(backlog::Prefetch::Auto),
        "off" => Ok(backlog::Prefetch::Off),
        n => n
            .parse()
            .map(backlog::Prefetch::Fixed)
            .map_err(|_| format!("`{n}` is not auto, off or a number of jobs")),
    }
}

pub(crate) fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) struct Bench {
    pub(crate) db: Database,
    /// The database's URL, for processes the bench starts.
    pub(crate) url: String,
    pub(crate) args: BenchArgs,
}

impl Bench {
    /// The concurrencies to run a worker scenario at: `--concurrency`, or `default`.
    pub(crate) fn concurrencies(&self, default: &[usize]) -> Vec<usize> {
        if self.args.concurrency.is_empty() {
            default.to_vec()
        } else {
            self.args.concurrency.clone()
        }
    }

    /// The fetch batch a runner of `concurrency` uses.
    pub(crate) fn fetch_batch(&self, concurrency: usize) -> usize {
        self.args.fetch_batch.unwrap_or(concurrency.min(1000))
    }

    /// `m` with the worker's settings at `concurrency`: the concurrency, fetch batch, prefetch.
    pub(crate) fn worker_settings(&self, m: Measurement, concurrency: usize) -> Measurement {
        m.concurrency(concurrency)
            .setting("fetch_batch", self.fetch_batch(concurrency))
            .setting("prefetch", prefetch_name(self.args.prefetch))
    }

    /// The bench queue's settings at `concurrency`, with the configured fetch batch and
    /// prefetch.
    pub(crate) fn queue_config(&self, concurrency: usize) -> backlog::QueueConfig {
        backlog::QueueConfig {
            max_workers: concurrency,
            fetch_batch: self.args.fetch_batch,
            prefetch: self.args.prefetch,
            backoff: backlog::Backoff::Inherit,
        }
    }

    /// A runner over the bench queue at `concurrency`.
    pub(crate) fn runner(&self, worker: NoopWorker, concurrency: usize) -> anyhow::Result<Runner> {
        self.runner_of(Workers::new().register(worker), concurrency)
    }

    /// A runner of `workers` over the bench queue at `concurrency`, with the settings every
    /// drain shares (so that two drains compared differ only in what they measure).
    pub(crate) fn runner_of(&self, workers: Workers, concurrency: usize) -> anyhow::Result<Runner> {
        let queue = self.queue_config(concurrency);
        Ok(Runner::builder(self.db.storage.clone(), workers)
            .queue("bench", queue)
            .configure(|c| {
                c.maintenance_config.schedule_interval = Duration::from_secs(5);
                c.maintenance = std::env::var("BENCH_NO_MAINT").is_err();
            })
            .start()?)
    }

    pub(crate) async fn reset(&self) -> anyhow::Result<()> {
        self.db
            .truncate_all()
            .await
            .context("could not empty the benchmark tables")
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Declared before the database, so dropped after it, on errors too.
    let mut _temp_dir = None;
    let url = match &args.database {
        Some(url) => url.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("backlog-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}", dir.join("bench.sqlite3").display());
            _temp_dir = Some(TempDir(dir));
            url
        }
    };
    // Every producer of the enqueue measurements holds a connection, beside the runner's.
    let connections = args.producers.max(args.bulk_producers) + 8;
    let db = Database::open_with(&url, &args.schema, Some(connections)).await?;
    backlog::migrate_up(&*db.storage)
        .await
        .context("could not migrate the benchmark database")?;
    let owned = crate::disposable::Owned {
        command: "bench",
        queues: &[
            "bench",
            history::WAITING_QUEUE,
            "dash_a",
            "dash_b",
            "dash_c",
        ],
        kinds: &[Noop::KIND, "dash_common", "dash_rare", fair::Small::KIND],
    };
    crate::disposable::ensure(&*db.storage, &owned, &db.describe, args.force).await?;
    let scenarios = if args.scenarios.is_empty() {
        vec![
            Scenario::Bulk,
            Scenario::Single,
            Scenario::Drain,
            Scenario::Steady,
            Scenario::Latency,
        ]
    } else {
        args.scenarios.clone()
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    eprintln!("backlog bench on {} ({cores} cores)", db.describe);
    let (backend, database_version) = match &db.backend {
        Backend::Postgres(pg) => (
            "postgres",
            backlog::postgres::bench::server_version(pg).await?,
        ),
        Backend::Sqlite(_) => (
            "sqlite",
            backlog::sqlite::bench::sqlite_version().to_owned(),
        ),
    };
    let mut report = Report {
        backlog_version: env!("CARGO_PKG_VERSION"),
        backend,
        database: db.describe.clone(),
        database_version,
        cores,
        started_at: chrono::Utc::now().to_rfc3339(),
        settings: run_settings(&args),
        measurements: Vec::new(),
    };
    let bench = Bench { db, url, args };
    for scenario in scenarios {
        let started = Instant::now();
        let name = scenario
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        eprintln!("running {name}...");
        bench.reset().await?;
        let result = match scenario {
            Scenario::Bulk => scenarios::bulk(&bench).await?,
            Scenario::Single => scenarios::single(&bench).await?,
            Scenario::Drain => scenarios::drain(&bench).await?,
            Scenario::Steady => scenarios::steady(&bench).await?,
            Scenario::Latency => latency::run(&bench).await?,
            Scenario::Dashboard => dashboard::run(&bench).await?,
            Scenario::Workflow => workflow::run(&bench).await?,
            Scenario::Fair => fair::run(&bench).await?,
            Scenario::Ceiling => ceiling::run(&bench).await?,
            Scenario::History => history::run(&bench).await?,
            #[cfg(feature = "server")]
            Scenario::ServerEnqueue => server::enqueue(&bench).await?,
            #[cfg(feature = "server")]
            Scenario::ServerDrain => server::drain(&bench).await?,
            #[cfg(feature = "server")]
            Scenario::ServerLatency => server::latency(&bench).await?,
            #[cfg(feature = "server")]
            Scenario::ServerMemory => server::memory(&bench).await?,
        };
        eprintln!("  done in {:.1} s", started.elapsed().as_secs_f64());
        report
            .measurements
            .extend(result.into_iter().map(|m| Measurement {
                scenario: name.clone(),
                ..m
            }));
    }
    bench.reset().await?;
    if bench.args.json {
        report.print_json()
    } else {
        report.print_table();
        Ok(())
    }
}

/// The bench's own SQLite directory, removed when the bench ends (a history run leaves
/// gigabytes in it).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn prefetch_name(prefetch: backlog::Prefetch) -> serde_json::Value {
    match prefetch {
        backlog::Prefetch::Auto => "auto".into(),
        backlog::Prefetch::Off => "off".into(),
        backlog::Prefetch::Fixed(n) => n.into(),
    }
}

/// The run's settings for the report, after defaults.
fn run_settings(args: &BenchArgs) -> std::collections::BTreeMap<&'static str, serde_json::Value> {
    let mut s = std::collections::BTreeMap::new();
    s.insert("jobs", args.jobs.into());
    s.insert("batch", args.batch.into());
    s.insert("bulk_producers", args.bulk_producers.into());
    s.insert("single_call_jobs", args.single_call_jobs.into());
    s.insert("producers", args.producers.into());
    s.insert("single_jobs", args.single_jobs.into());
    s.insert("concurrency", serde_json::json!(args.concurrency));
    s.insert("fetch_batch", serde_json::json!(args.fetch_batch));
    s.insert("prefetch", prefetch_name(args.prefetch));
    s.insert("steady_secs", args.steady_secs.into());
    s.insert("latency_secs", args.latency_secs.into());
    s.insert("rates", serde_json::json!(args.rates));
    s.insert("workflow_jobs", args.workflow_jobs.into());
    s.insert("history_jobs", args.history_jobs.into());
    s.insert("fair_rounds", args.fair_rounds.into());
    s.insert("ceiling_clients", args.ceiling_clients.into());
    s
}
