//! Enqueue rates, drain throughput and steady state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::{Client, InsertOpts};

use super::{rate, Bench, Noop, NoopWorker, Row};

fn client(bench: &Bench) -> Client {
    Client::from_arc(bench.db.storage.clone())
}

/// Enqueues `jobs` no-op jobs in batches of `batch` (a backlog for the scenarios to drain).
pub(crate) async fn enqueue_bulk(client: &Client, jobs: usize, batch: usize) -> anyhow::Result<()> {
    let mut left = jobs;
    while left > 0 {
        let n = left.min(batch);
        let prepared = (0..n)
            .map(|_| client.prepare(&Noop { sent_ns: 0 }, InsertOpts::new()))
            .collect::<Result<Vec<_>, _>>()?;
        client.insert_prepared(prepared).await?;
        left -= n;
    }
    Ok(())
}

/// Bulk enqueue: `jobs` jobs in batches of `batch`, one round trip and transaction each, from
/// `bulk_producers` concurrent producers (so preparing the next batch overlaps the database's
/// work on the previous one).
pub(crate) async fn bulk(bench: &Bench) -> anyhow::Result<Vec<Row>> {
    let client = client(bench);
    let producers = bench.args.bulk_producers.max(1);
    let per_producer = bench.args.jobs / producers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let client = client.clone();
        let batch = bench.args.batch;
        tasks.push(tokio::spawn(async move {
            enqueue_bulk(&client, per_producer, batch).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let total = per_producer * producers;
    Ok(vec![Row {
        name: "bulk enqueue".into(),
        value: rate(total as u64, elapsed),
        detail: format!(
            "{total} jobs in batches of {}, {producers} producers",
            bench.args.batch
        ),
    }])
}

/// Single enqueue: `producers` tasks each inserting one job per call.
pub(crate) async fn single(bench: &Bench) -> anyhow::Result<Vec<Row>> {
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
    Ok(vec![Row {
        name: "single enqueue".into(),
        value: rate(bench.args.single_jobs as u64, elapsed),
        detail: format!(
            "{} jobs, {} concurrent producers, one job per call",
            bench.args.single_jobs, bench.args.producers
        ),
    }])
}

/// Drain: `jobs` no-op jobs already queued; fetch + run + complete until none is left.
pub(crate) async fn drain(bench: &Bench) -> anyhow::Result<Vec<Row>> {
    let client = client(bench);
    enqueue_bulk(&client, bench.args.jobs, 5_000).await?;
    let worker = NoopWorker::default();
    let started = Instant::now();
    let runner = bench.runner(worker)?;
    let target = bench.args.jobs as u64;
    while runner.stats().completed < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    runner.shutdown(Duration::from_secs(10)).await;
    Ok(vec![Row {
        name: "end-to-end drain".into(),
        value: rate(target, elapsed),
        detail: format!(
            "{target} queued no-op jobs, concurrency {}, fetch batch {}",
            bench.args.concurrency,
            bench
                .args
                .fetch_batch
                .unwrap_or(bench.args.concurrency.min(1000))
        ),
    }])
}

/// Steady state: producers insert batches of 100 as fast as the worker keeps up (the backlog
/// is held under a bound), for `steady_secs`; reports completed jobs per second.
pub(crate) async fn steady(bench: &Bench) -> anyhow::Result<Vec<Row>> {
    const BATCH: usize = 100;
    let client = client(bench);
    let worker = NoopWorker::default();
    let runner = bench.runner(worker.clone())?;
    let bound = (bench.args.concurrency * 20).max(2_000) as u64;
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
    Ok(vec![Row {
        name: "steady state (durable commits)".into(),
        value: rate(completed, elapsed),
        detail: format!(
            "{}s, 4 producers × batches of {BATCH}, backlog held ≤ {bound} (left: {backlog_left})",
            bench.args.steady_secs
        ),
    }])
}
