//! `backlog-faults`: the processes of Backlog's fault suite. `worker` runs jobs and records each
//! execution in a ledger file; `produce` enqueues jobs and records each acknowledged id. Both
//! run until done or killed; the suite's tests (`tests/faults`) drive them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use backlog::postgres::{PgConfig, PgStorage};
use backlog::sqlite::{SqliteConfig, SqliteStorage};
use backlog::{Client, InsertOpts, Job, JobError, Runner, Storage, Worker, Workers};
use backlog_faults::ledger::{now_us, Entry, Phase, SyncedLog};
use backlog_faults::Work;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "backlog-faults", about = "Processes of Backlog's fault suite")]
struct Cli {
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB (already migrated).
    #[arg(long)]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs jobs until standard input closes (then shuts down gracefully and prints its stats).
    Worker {
        /// The ledger file this process appends its executions to.
        #[arg(long)]
        ledger: PathBuf,
        /// Lease of a claim, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        lease_ms: u64,
        /// Leader lease, in milliseconds (how soon a killed leader is replaced).
        #[arg(long, default_value_t = 2000)]
        leader_ttl_ms: u64,
        /// Jobs run at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// How often it polls for jobs without a wake-up, in milliseconds.
        #[arg(long, default_value_t = 200)]
        poll_ms: u64,
    },
    /// Enqueues jobs one by one, retrying each until acknowledged, and appends each
    /// acknowledged id to a file (synced) before going on.
    Produce {
        /// The file of acknowledged ids.
        #[arg(long)]
        acked: PathBuf,
        /// Jobs to enqueue.
        #[arg(long)]
        count: u64,
        /// How long each job runs, in milliseconds.
        #[arg(long, default_value_t = 20)]
        job_ms: u64,
        /// Give up (exit non-zero) after this many seconds.
        #[arg(long, default_value_t = 120)]
        deadline_s: u64,
        /// Enqueues per second at most (the pace of an open-loop load); 0: each as soon as the
        /// previous one was acknowledged.
        #[arg(long, default_value_t = 0)]
        rate: u32,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let storage = open(&cli.database).await?;
    match cli.command {
        Command::Worker {
            ledger,
            lease_ms,
            leader_ttl_ms,
            concurrency,
            poll_ms,
        } => {
            let timing = Timing {
                lease_ms,
                leader_ttl_ms,
                poll_ms,
            };
            worker(storage, ledger, timing, concurrency).await
        }
        Command::Produce {
            acked,
            count,
            job_ms,
            deadline_s,
            rate,
        } => {
            produce(storage.clone(), acked, count, job_ms, deadline_s, rate).await?;
            // The wake-ups of the last inserts are sent by a background task: let it finish
            // before the process exits, as the CLI does.
            storage.flush_wakeups().await;
            Ok(())
        }
    }
}

async fn open(url: &str) -> anyhow::Result<Arc<dyn Storage>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let storage = SqliteStorage::open(path, SqliteConfig::default())
            .await
            .with_context(|| format!("could not open SQLite file {path}"))?;
        return Ok(Arc::new(storage));
    }
    if url.starts_with("postgres://") {
        let storage = PgStorage::connect(url, PgConfig::default())
            .await
            .context("could not connect to PostgreSQL")?;
        return Ok(Arc::new(storage));
    }
    bail!("unsupported database URL `{url}`: use sqlite://PATH or postgres://USER@HOST:PORT/DB")
}

/// Runs a [`Work`] job and records its start and end in the ledger.
struct Recorder {
    ledger: Arc<SyncedLog>,
}

impl Recorder {
    fn record(&self, phase: Phase, job: &Job<Work>) -> Result<(), JobError> {
        let entry = Entry {
            phase,
            job: job.id,
            token: job
                .lease_token
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            pid: std::process::id(),
            at_us: now_us(),
        };
        // A ledger that cannot be written would make the run unverifiable: fail the attempt.
        self.ledger
            .append(&entry.to_line())
            .map_err(|e| JobError::retry(format!("could not write the ledger: {e}")))
    }
}

impl Worker for Recorder {
    type Args = Work;
    async fn work(&self, job: Job<Work>) -> Result<(), JobError> {
        self.record(Phase::Start, &job)?;
        tokio::time::sleep(Duration::from_millis(job.args.ms)).await;
        self.record(Phase::End, &job)?;
        if job.attempt <= job.args.fail_attempts {
            return Err(JobError::retry(format!(
                "planned failure of attempt {}",
                job.attempt
            )));
        }
        Ok(())
    }
}

/// A worker process's lease, leader lease and poll interval, in milliseconds.
struct Timing {
    lease_ms: u64,
    leader_ttl_ms: u64,
    poll_ms: u64,
}

async fn worker(
    storage: Arc<dyn Storage>,
    ledger: PathBuf,
    timing: Timing,
    concurrency: usize,
) -> anyhow::Result<()> {
    let ledger = SyncedLog::open(&ledger)
        .with_context(|| format!("could not open the ledger {}", ledger.display()))?;
    let recorder = Recorder {
        ledger: Arc::new(ledger),
    };
    let runner = Runner::builder(storage, Workers::new().register(recorder))
        .queue("default", concurrency)
        .configure(|c| {
            c.worker_id = format!("faults:{}", std::process::id());
            c.lease = Duration::from_millis(timing.lease_ms);
            c.poll_interval = Duration::from_millis(timing.poll_ms);
            c.queue_depth_interval = None;
            c.maintenance_config.leader_ttl = Duration::from_millis(timing.leader_ttl_ms);
            c.maintenance_config.rescue_interval = Duration::from_millis(200);
            // Kills are the point of the suite: a job rescued many times is no poison job here.
            c.maintenance_config.poison_threshold = 0;
        })
        .start()
        .context("could not start the runner")?;
    println!("ready {}", std::process::id());
    // Standard input closing (the test dropping its end) is the request to stop.
    let (closed_tx, mut closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });
    // The counters (and whether this process leads) are printed whenever they change, so a
    // test can read them from the log while the process runs (and after it was killed).
    let mut printed = None;
    let mut leading = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = &mut closed_rx => break,
            _ = tick.tick() => {
                let now = runner.stats();
                if printed != Some(now) {
                    print_stats(&now);
                    printed = Some(now);
                }
                if leading != Some(runner.is_leader()) {
                    leading = Some(runner.is_leader());
                    println!("leader {}", runner.is_leader());
                }
            }
        }
    }
    runner.shutdown(Duration::from_secs(5)).await;
    print_memory();
    Ok(())
}

/// Prints the process's peak resident memory, for the suite's memory bounds.
fn print_memory() {
    if let Some(kib) = backlog_faults::peak_rss_kib() {
        println!("memory vm_hwm_kib={kib}");
    }
}

fn print_stats(stats: &backlog::StatsSnapshot) {
    println!(
        "stats fetched={} completed={} fenced={} leases_lost={}",
        stats.fetched, stats.completed, stats.fenced, stats.leases_lost
    );
}

async fn produce(
    storage: Arc<dyn Storage>,
    acked: PathBuf,
    count: u64,
    job_ms: u64,
    deadline_s: u64,
    rate: u32,
) -> anyhow::Result<()> {
    let log = SyncedLog::open(&acked).with_context(|| {
        format!(
            "could not open the acknowledgement file {}",
            acked.display()
        )
    })?;
    let client = Client::from_arc(storage);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(deadline_s);
    let mut retries = 0u64;
    // An open-loop pace: ticks that fall behind are not made up in a burst.
    let mut pace = (rate > 0).then(|| {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    });
    for _ in 0..count {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let mut backoff = Duration::from_millis(20);
        // One idempotency key per job, drawn before the first try: a retry after an error whose
        // outcome is unknown (the insert may have committed) returns the job already stored
        // instead of inserting a second one.
        let opts = InsertOpts::new().idempotency_key(backlog::new_idempotency_key());
        let id = loop {
            match client
                .enqueue_with(
                    Work {
                        ms: job_ms,
                        fail_attempts: 0,
                    },
                    opts.clone(),
                )
                .await
            {
                Ok(id) => break id,
                Err(e) => {
                    retries += 1;
                    // Every refusal is reported, so a test can check that it says what failed.
                    println!("refused {e}");
                    if tokio::time::Instant::now() + backoff > deadline {
                        bail!("enqueue still failing at the deadline: {e}");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        };
        log.append(&id.to_string())
            .context("could not record an acknowledged id")?;
    }
    println!("produced {count} retries={retries}");
    print_memory();
    Ok(())
}
