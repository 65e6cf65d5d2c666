//! Command-line arguments and dispatch.

use clap::{Args, Parser, Subcommand};

use crate::{bench, cron, database, demo, enqueue, jobs, migrate, queues, serve, workflows};

/// Backlog: a durable background-job queue on SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "backlog", version, about, long_about = None)]
pub struct Cli {
    /// Log progress to stderr (set BACKLOG_LOG for finer control, e.g. `backlog=debug`).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the jobs live.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (the default, `sqlite://backlog.sqlite3`) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        short = 'd',
        global = true,
        env = "BACKLOG_DATABASE_URL",
        default_value = "sqlite://backlog.sqlite3"
    )]
    pub database: String,
    /// PostgreSQL schema holding Backlog's tables.
    #[arg(long, global = true, env = "BACKLOG_SCHEMA", default_value = "public")]
    pub schema: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply, revert or list schema migrations.
    Migrate(migrate::MigrateArgs),
    /// Enqueue a realistic mix of jobs and run them, with a progress bar and a summary.
    Demo(demo::DemoArgs),
    /// Enqueue one job by kind with JSON args.
    Enqueue(enqueue::EnqueueArgs),
    /// List, show, cancel or retry jobs.
    Jobs(jobs::JobsArgs),
    /// List queues, pause and resume them, set their cluster-wide limits.
    Queues(queues::QueuesArgs),
    /// List, show, cancel or retry workflows (jobs with dependencies).
    Workflows(workflows::WorkflowsArgs),
    /// List or show batches (jobs grouped, with a callback).
    Batches(workflows::BatchesArgs),
    /// Measure enqueue rate, throughput and latency on this machine.
    Bench(bench::BenchArgs),
    /// `bench`'s producer in another process (started by it).
    #[command(hide = true)]
    BenchProducer(bench::ProducerArgs),
    /// List, set or remove periodic job schedules (cron expressions or intervals).
    Cron(cron::CronArgs),
    /// Serve the HTTP API, web dashboard and Prometheus metrics (and, built with the `server`
    /// feature, the ZeroMQ server with `--zmq ENDPOINT`), and run the maintenance services.
    Serve(serve::ServeArgs),
    /// Print a new CURVE key pair (Z85) for the ZeroMQ server or a client.
    #[cfg(feature = "server")]
    Keygen(crate::serve_zmq::KeygenArgs),
    /// One of `demo --server`'s worker processes (started by it; stops when stdin closes).
    #[cfg(feature = "server")]
    #[command(hide = true)]
    DemoWorker(crate::demo::server::DemoWorkerArgs),
}

/// Runs the command, then waits until the wake-ups of whatever it wrote have left for workers in
/// other processes (PostgreSQL sends them from a background task just after each commit; a
/// process that exited at once would take them with it).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let result = command(cli).await;
    database::flush_opened().await;
    result
}

async fn command(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Enqueue(args) => enqueue::run(args).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::Queues(args) => queues::run(args).await,
        Command::Workflows(args) => workflows::run_workflows(args).await,
        Command::Batches(args) => workflows::run_batches(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::BenchProducer(args) => bench::producer(args).await,
        Command::Cron(args) => cron::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        #[cfg(feature = "server")]
        Command::Keygen(args) => crate::serve_zmq::keygen(args),
        #[cfg(feature = "server")]
        Command::DemoWorker(args) => crate::demo::server::worker(args).await,
    }
}

impl DatabaseArgs {
    /// Opens the database without touching its schema.
    pub async fn open(&self) -> anyhow::Result<database::Database> {
        database::Database::open(&self.database, &self.schema).await
    }
}
