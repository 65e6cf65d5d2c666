//! Enqueue rates, drain throughput and steady state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::{Client, InsertOpts};

use super::{Bench, Measurement, Noop, NoopWorker};

fn client(bench: &Bench) -> Client {
    Client::from_arc(bench.db.storage.clone())
}

/// Enqueues `jobs` no-op jobs in batches of `batch` (a backlog for the scenarios to drain).
pub(crate) async fn enqueue_bulk(client: &Client, jobs: usize, batch: usize) -> anyhow::Result<()> {
    enqueue_bulk_with(client, jobs, batch, InsertOpts::new).await
}

/// [`enqueue_bulk`] with each job's options from `opts`.
pub(crate) async fn enqueue_bulk_with(
    client: &Client,
    jobs: usize,
    batch: usize,
    opts: impl Fn() -> InsertOpts,
) -> anyhow::Result<()> {
    let mut left = jobs;
    while left > 0 {
        let n = left.min(batch);
        let prepared = (0..n)
            .map(|_| client.prepare(&Noop { sent_ns: 0 }, opts()))
            .collect::<Result<Vec<_>, _>>()?;
        client.insert_prepared(prepared).await?;
        left -= n;
    }
    Ok(())
}

/// Bulk enqueue: `jobs` jobs in batches of `batch`, one round trip and transaction each, from
/// `bulk_producers` concurrent producers (so preparing the next batch overlaps the database's
/// work on the previous one); then `single_call_jobs` jobs in one `enqueue_many` call,
/// [`SINGLE_CALL_ROUNDS`] times on an emptied table, reporting the median.
pub(crate) async fn bulk(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = vec![bulk_with(bench, bench.args.bulk_producers, bench.args.batch).await?];
    if bench.args.single_call_jobs > 0 {
        let mut rounds = Vec::with_capacity(SINGLE_CALL_ROUNDS);
        for _ in 0..SINGLE_CALL_ROUNDS {
            bench.reset().await?;
            rounds.push(single_call(bench, bench.args.single_call_jobs).await?);
        }
        let jobs = bench.args.single_call_jobs;
        rounds.sort();
        let median = rounds[SINGLE_CALL_ROUNDS / 2];
        measured.push(
            Measurement::rate("bulk enqueue, one call", jobs as u64, median)
                .setting("single_call_jobs", jobs)
                .setting("rounds", SINGLE_CALL_ROUNDS)
                .detail(format!(
                    "{jobs} jobs in one enqueue_many call; median of {SINGLE_CALL_ROUNDS} calls, \
                     each on an emptied table"
                )),
        );
    }
    Ok(measured)
}

/// Calls of the one-call bulk measurement: one call of 20,000 jobs lasts about 0.1 s, short
/// enough for one page-fault storm or scheduler hiccup to move a single reading by 2×.
const SINGLE_CALL_ROUNDS: usize = 5;

/// One `Client::enqueue_many` call of `jobs` no-op jobs (one transaction), timed from the call
/// (serialising the jobs included) to its return.
async fn single_call(bench: &Bench, jobs: usize) -> anyhow::Result<Duration> {
    let client = client(bench);
    let started = Instant::now();
    let ids = client
        .enqueue_many((0..jobs).map(|_| Noop { sent_ns: 0 }))
        .await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(ids.len() == jobs, "{} ids for {jobs} jobs", ids.len());
    Ok(elapsed)
}

/// Bulk enqueue of `--jobs` jobs from `producers` producers in batches of `batch`.
pub(crate) async fn bulk_with(
    bench: &Bench,
    producers: usize,
    batch: usize,
) -> anyhow::Result<Measurement> {
    let client = client(bench);
    let producers = producers.max(1);
    let per_producer = bench.args.jobs / producers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            enqueue_bulk(&client, per_producer, batch).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let total = per_producer * producers;
    Ok(Measurement::rate("bulk enqueue", total as u64, elapsed)
        .setting("batch", batch)
        .setting("producers", producers)
        .detail(format!(
            "{total} jobs in batches of {batch}, {producers} producer(s)"
        )))
}

/// Single enqueue: `producers` tasks each inserting one job per call.
pub(crate) async fn single(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let client = client(bench);
    let remaining = Arc::new(AtomicU64::new(bench.args.single_jobs as u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..bench.args.producers {
        let client = client.clone();
        let remaining = remaining.clone();
        tasks.push(tokio::spawn(async move {
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                client.enqueue(Noop { sent_ns: 0 }).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    Ok(vec![Measurement::rate(
        "single enqueue",
        bench.args.single_jobs as u64,
        elapsed,
    )
    .setting("producers", bench.args.producers)
    .detail(format!(
        "{} jobs, {} concurrent producers, one job per call",
        bench.args.single_jobs, bench.args.producers
    ))])
}

/// The drain's concurrencies when `--concurrency` is not given: what applications run, and the
/// old default.
pub(crate) const DRAIN_CONCURRENCIES: &[usize] = &[32, 1000];
/// The other worker scenarios' concurrency when `--concurrency` is not given.
pub(crate) const DEFAULT_CONCURRENCY: &[usize] = &[1000];

/// Drain: `jobs` no-op jobs already queued; fetch + run + complete until none is left, once per
/// concurrency on an emptied table.
pub(crate) async fn drain(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DRAIN_CONCURRENCIES) {
        bench.reset().await?;
        enqueue_bulk(&client(bench), bench.args.jobs, 5_000).await?;
        measured.push(drain_queued(bench, concurrency, bench.args.jobs as u64).await?);
    }
    Ok(measured)
}

/// Runs `jobs` queued no-op jobs at `concurrency`, from runner start to the last completion.
pub(crate) async fn drain_queued(
    bench: &Bench,
    concurrency: usize,
    jobs: u64,
) -> anyhow::Result<Measurement> {
    let started = Instant::now();
    let runner = bench.runner(NoopWorker::default(), concurrency)?;
    while runner.stats().completed < jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    runner.shutdown(Duration::from_secs(10)).await;
    let m = Measurement::rate("end-to-end drain", jobs, elapsed)
        .detail(format!("{jobs} queued no-op jobs"));
    Ok(bench.worker_settings(m, concurrency))
}

/// Steady state: producers insert batches of 100 as fast as the worker keeps up (the backlog
/// is held under a bound), for `steady_secs`; reports completed jobs per second.
pub(crate) async fn steady(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        bench.reset().await?;
        measured.push(steady_at(bench, concurrency).await?);
    }
    Ok(measured)
}

pub(crate) async fn steady_at(bench: &Bench, concurrency: usize) -> anyhow::Result<Measurement> {
    const BATCH: usize = 100;
    let client = client(bench);
    let worker = NoopWorker::default();
    let runner = bench.runner(worker.clone(), concurrency)?;
    let bound = (concurrency * 20).max(2_000) as u64;
    let enqueued = Arc::new(AtomicU64::new(0));
    let duration = Duration::from_secs(bench.args.steady_secs);
    let stop = Instant::now() + duration;
    let mut producers = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        let enqueued = enqueued.clone();
        let ran = worker.ran.clone();
        producers.push(tokio::spawn(async move {
            while Instant::now() < stop {
                if enqueued
                    .load(Ordering::Relaxed)
                    .saturating_sub(ran.load(Ordering::Relaxed))
                    > bound
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let prepared = (0..BATCH)
                    .map(|_| client.prepare(&Noop { sent_ns: 0 }, InsertOpts::new()))
                    .collect::<Result<Vec<_>, _>>()?;
                client.insert_prepared(prepared).await?;
                enqueued.fetch_add(BATCH as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let warmup = Duration::from_secs(2).min(duration / 4);
    tokio::time::sleep(warmup).await;
    let start_count = runner.stats().completed;
    let measured_from = Instant::now();
    tokio::time::sleep_until(stop.into()).await;
    let completed = runner.stats().completed - start_count;
    let elapsed = measured_from.elapsed();
    for p in producers {
        p.await??;
    }
    runner.shutdown(Duration::from_secs(10)).await;
    let backlog_left = enqueued
        .load(Ordering::Relaxed)
        .saturating_sub(worker.ran.load(Ordering::Relaxed));
    let m = Measurement::rate("steady state (durable commits)", completed, elapsed)
        .setting("batch", BATCH)
        .setting("producers", 4)
        .detail(format!(
            "{}s, 4 producers × batches of {BATCH}, backlog held ≤ {bound} (left: {backlog_left})",
            bench.args.steady_secs
        ));
    Ok(bench.worker_settings(m, concurrency))
}
