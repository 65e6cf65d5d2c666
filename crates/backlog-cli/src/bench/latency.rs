//! Enqueue-to-start latency at steady offered loads, one job per enqueue, workers idle-waiting:
//! with the producer in this process (woken in-process), and with the producer in another
//! process (`backlog bench-producer`), as an application's web process and worker process are,
//! so that the wake-up crosses processes (PostgreSQL's `NOTIFY`, SQLite's file watch).

use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::{Client, Runner};
use clap::Args;

use super::scenarios::DEFAULT_CONCURRENCY;
use super::{unix_ns, Bench, Measurement, Noop, NoopWorker};
use crate::cli::DatabaseArgs;
use crate::database::Database;
use crate::percentiles::Samples;

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        for &per_sec in &bench.args.rates {
            measured.push(at_rate(bench, concurrency, per_sec).await?);
        }
        for &per_sec in &bench.args.rates {
            measured.push(from_another_process(bench, concurrency, per_sec).await?);
        }
    }
    Ok(measured)
}

async fn at_rate(bench: &Bench, concurrency: usize, per_sec: u32) -> anyhow::Result<Measurement> {
    bench.reset().await?;
    measure_at_rate(bench, concurrency, per_sec).await
}

/// [`at_rate`] on the table as it is (the history scenario's, beside its history).
pub(crate) async fn measure_at_rate(
    bench: &Bench,
    concurrency: usize,
    per_sec: u32,
) -> anyhow::Result<Measurement> {
    measure(bench, concurrency, per_sec, Producer::ThisProcess).await
}

/// The same as [`at_rate`], but the jobs are enqueued by another process: `backlog
/// bench-producer` on the same database, started once the runner is idle and awaited.
async fn from_another_process(
    bench: &Bench,
    concurrency: usize,
    per_sec: u32,
) -> anyhow::Result<Measurement> {
    bench.reset().await?;
    measure(bench, concurrency, per_sec, Producer::AnotherProcess).await
}

/// Where the measured jobs are enqueued.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Producer {
    /// Here, through the bench's own storage: the wake-up stays in the process.
    ThisProcess,
    /// In `backlog bench-producer`: the wake-up crosses processes.
    AnotherProcess,
}

async fn measure(
    bench: &Bench,
    concurrency: usize,
    per_sec: u32,
    producer: Producer,
) -> anyhow::Result<Measurement> {
    let worker = NoopWorker::default();
    let runner = idle_runner(bench, &worker, concurrency).await?;
    let total = per_sec as u64 * bench.args.latency_secs;
    let (name, by) = match producer {
        Producer::ThisProcess => {
            offer(&Client::from_arc(bench.db.storage.clone()), per_sec, total).await?;
            ("", "")
        }
        Producer::AnotherProcess => {
            let status = tokio::process::Command::new(std::env::current_exe()?)
                .args(["bench-producer", "--database", &bench.url])
                .args(["--schema", &bench.args.schema])
                .args(["--rate", &per_sec.to_string(), "--jobs", &total.to_string()])
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .context("could not start `backlog bench-producer`")?;
            anyhow::ensure!(
                status.success(),
                "`backlog bench-producer` failed: {status}"
            );
            (", another process", " enqueued by a separate process")
        }
    };
    let samples = finish(runner, &worker, total).await;
    let mut m = Measurement::latency(format!("enqueue→start at {per_sec} jobs/s{name}"), &samples)
        .setting("rate", per_sec);
    if producer == Producer::AnotherProcess {
        m = m.setting("producer", "another process");
    }
    let m = m.detail(format!(
        "p50 / p99 of {} jobs over {} s{by} (max {:.2} ms)",
        samples.len(),
        bench.args.latency_secs,
        samples.max().as_secs_f64() * 1e3
    ));
    Ok(bench.worker_settings(m, concurrency))
}

/// A runner of `worker` over the bench queue, subscribed and idle.
async fn idle_runner(
    bench: &Bench,
    worker: &NoopWorker,
    concurrency: usize,
) -> anyhow::Result<Runner> {
    let runner = bench.runner(worker.clone(), concurrency)?;
    // Let the runner subscribe and go idle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(runner)
}

/// Enqueues `total` measured no-op jobs, one per call, `per_sec` calls a second (each call its
/// own task, so a slow call does not delay the next), and waits for every call.
async fn offer(client: &Client, per_sec: u32, total: u64) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sec.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total as usize);
    for _ in 0..total {
        tick.tick().await;
        let client = client.clone();
        sends.push(tokio::spawn(async move {
            client.enqueue(Noop { sent_ns: unix_ns() }).await
        }));
    }
    for s in sends {
        s.await??;
    }
    Ok(())
}

/// Waits (30 s at most) until the runner has completed `total` jobs, stops it and returns the
/// latencies its worker recorded (also written to the file `BENCH_DUMP` names, if set).
async fn finish(runner: Runner, worker: &NoopWorker, total: u64) -> Samples {
    let deadline = Instant::now() + Duration::from_secs(30);
    while runner.stats().completed < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    runner.shutdown(Duration::from_secs(5)).await;
    let latencies = worker
        .latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    // `BENCH_DUMP=FILE` keeps the last measurement's samples (docs/benchmarks.md).
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        let text: Vec<String> = latencies
            .iter()
            .map(|d| d.as_micros().to_string())
            .collect();
        let _ = std::fs::write(path, text.join("\n"));
    }
    Samples::new(latencies)
}

/// `backlog bench-producer` (hidden): the producer of the latency measurement's "another
/// process" figures, started by `backlog bench`.
#[derive(Debug, Args)]
pub struct ProducerArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Jobs enqueued a second.
    #[arg(long)]
    rate: u32,
    /// Jobs in all.
    #[arg(long)]
    jobs: u64,
}

/// Enqueues `--jobs` measured no-op jobs at `--rate` (the CLI then waits for their wake-ups to
/// leave, as after every command).
pub async fn producer(args: ProducerArgs) -> anyhow::Result<()> {
    let db = Database::open_with(&args.db.database, &args.db.schema, Some(8)).await?;
    let client = Client::from_arc(db.storage.clone());
    offer(&client, args.rate, args.jobs).await
}
