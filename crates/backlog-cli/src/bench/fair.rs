//! Fair queues: one partition key holding a big backlog, enqueued first, and 50 keys holding 10
//! jobs each, enqueued after it. Measures how early the small keys' jobs start (in a plain
//! queue they would wait for the whole backlog) and the drain rate, beside the same drain
//! without keys. Single drains of a few seconds spread by tens of percent on a small machine,
//! so both drains run `--fair-rounds` times (alternating which goes first) and the medians are
//! compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backlog::{Client, InsertOpts, Job, JobArgs, JobError, Worker, Workers};
use serde::{Deserialize, Serialize};

use super::scenarios::{self, DEFAULT_CONCURRENCY};
use super::{Bench, Measurement, Noop, NoopWorker};

/// Keys holding 10 jobs each, enqueued after the big key's backlog.
const SMALL_KEYS: usize = 50;
const SMALL_JOBS: usize = 10;

/// A job of a small key: records how many jobs had started before it.
#[derive(Serialize, Deserialize)]
pub(crate) struct Small {}

impl JobArgs for Small {
    const KIND: &'static str = "bench_fair_small";
    fn default_opts() -> InsertOpts {
        InsertOpts::new().queue("bench")
    }
}

/// Counts every start (big and small jobs share the counter) and notes the small ones' places.
#[derive(Clone, Default)]
struct Starts {
    count: Arc<AtomicU64>,
    small: Arc<Mutex<Vec<u64>>>,
}

struct SmallWorker(Starts);

impl Worker for SmallWorker {
    type Args = Small;
    async fn work(&self, _job: Job<Small>) -> Result<(), JobError> {
        let place = self.0.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut small) = self.0.small.lock() {
            small.push(place);
        }
        Ok(())
    }
}

struct BigWorker(Starts, NoopWorker);

impl Worker for BigWorker {
    type Args = Noop;
    async fn work(&self, job: Job<Noop>) -> Result<(), JobError> {
        self.0.count.fetch_add(1, Ordering::Relaxed);
        self.1.work(job).await
    }
}

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        measured.extend(run_at(bench, concurrency).await?);
    }
    Ok(measured)
}

async fn run_at(bench: &Bench, concurrency: usize) -> anyhow::Result<Vec<Measurement>> {
    let rounds = bench.args.fair_rounds.max(1);
    let total = (bench.args.jobs + SMALL_KEYS * SMALL_JOBS) as u64;
    let mut fair = Vec::with_capacity(rounds);
    let mut plain = Vec::with_capacity(rounds);
    let mut last_small = 0;
    for round in 0..rounds {
        // Alternate which drain goes first, so that neither always follows the other's
        // writes (checkpoints, a warm cache).
        if round % 2 == 1 {
            plain.push(plain_drain(bench, concurrency, total).await?);
        }
        let (elapsed, last) = fair_drain(bench, concurrency).await?;
        fair.push(elapsed);
        last_small = last_small.max(last);
        if round % 2 == 0 {
            plain.push(plain_drain(bench, concurrency, total).await?);
        }
    }
    let shares: Vec<String> = fair
        .iter()
        .zip(&plain)
        .map(|(f, p)| {
            format!(
                "{:.0} %",
                100.0 * p.as_secs_f64() / f.as_secs_f64().max(1e-9)
            )
        })
        .collect();
    let plain_rate = total as f64 / median(&mut plain).as_secs_f64().max(1e-9);
    let big = bench.args.jobs;
    let drain = Measurement::rate("fair drain", total, median(&mut fair))
        .against("a plain drain of as many jobs without keys", plain_rate)
        .setting("fair_rounds", rounds)
        .detail(format!(
            "{big} jobs of one key enqueued first, then {SMALL_KEYS} keys x {SMALL_JOBS}; \
             medians of {rounds} rounds, each a fair and a plain drain (shares by round: {})",
            shares.join(", ")
        ));
    let served = Measurement::new(
        "fair: small keys served by",
        (last_small + 1) as f64,
        super::measurement::Unit::StartPlace,
    )
    .jobs(total)
    .detail(format!(
        "the last of the {} small-key jobs started as job {} of {total} at the latest of \
         {rounds} rounds (without keys: after the whole backlog)",
        SMALL_KEYS * SMALL_JOBS,
        last_small + 1
    ));
    Ok(vec![
        bench.worker_settings(drain, concurrency),
        bench.worker_settings(served, concurrency),
    ])
}

/// The median of a few durations (the upper one of an even count's middle two).
fn median(durations: &mut [Duration]) -> Duration {
    durations.sort();
    durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default()
}

/// One key's backlog, then the small keys, drained: how long it took, and the place in the
/// start order of the last small-key job.
async fn fair_drain(bench: &Bench, concurrency: usize) -> anyhow::Result<(Duration, u64)> {
    bench.reset().await?;
    let client = Client::from_arc(bench.db.storage.clone());
    let big = bench.args.jobs;
    let mut left = big;
    while left > 0 {
        let n = left.min(5_000);
        let prepared = (0..n)
            .map(|_| client.prepare(&Noop { sent_ns: 0 }, InsertOpts::new().partition_key("big")))
            .collect::<Result<Vec<_>, _>>()?;
        client.insert_prepared(prepared).await?;
        left -= n;
    }
    let small = (0..SMALL_KEYS * SMALL_JOBS)
        .map(|i| {
            client.prepare(
                &Small {},
                InsertOpts::new().partition_key(format!("tenant-{:02}", i % SMALL_KEYS)),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    client.insert_prepared(small).await?;
    let total = (big + SMALL_KEYS * SMALL_JOBS) as u64;

    let starts = Starts::default();
    let noop = NoopWorker::default();
    let workers = Workers::new()
        .register(BigWorker(starts.clone(), noop))
        .register(SmallWorker(starts.clone()));
    let started = Instant::now();
    // The plain drain's runner settings (bench.runner), so the two drains differ only in keys.
    let runner = bench.runner_of(workers, concurrency)?;
    while runner.stats().completed < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    runner.shutdown(Duration::from_secs(10)).await;
    let last_small = starts
        .small
        .lock()
        .map(|s| s.iter().copied().max().unwrap_or(0))
        .unwrap_or(0);
    Ok((elapsed, last_small))
}

/// The same number of jobs without keys, for comparison: how long their drain took.
async fn plain_drain(bench: &Bench, concurrency: usize, total: u64) -> anyhow::Result<Duration> {
    bench.reset().await?;
    let client = Client::from_arc(bench.db.storage.clone());
    scenarios::enqueue_bulk(&client, total as usize, 5_000).await?;
    let started = Instant::now();
    let runner = bench.runner(NoopWorker::default(), concurrency)?;
    while runner.stats().completed < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    runner.shutdown(Duration::from_secs(10)).await;
    Ok(elapsed)
}
