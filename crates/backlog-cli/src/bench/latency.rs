//! Enqueue-to-start latency at steady offered loads, one job per enqueue, workers idle-waiting.

use std::time::{Duration, Instant};

use backlog::Client;

use super::scenarios::DEFAULT_CONCURRENCY;
use super::{unix_ns, Bench, Measurement, Noop, NoopWorker};
use crate::percentiles::Samples;

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        for &per_sec in &bench.args.rates {
            measured.push(at_rate(bench, concurrency, per_sec).await?);
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
    let worker = NoopWorker::default();
    let runner = bench.runner(worker.clone(), concurrency)?;
    let client = Client::from_arc(bench.db.storage.clone());
    // Let the runner subscribe and go idle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = per_sec as u64 * bench.args.latency_secs;
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while runner.stats().completed < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    runner.shutdown(Duration::from_secs(5)).await;
    if let Ok(path) = std::env::var("BENCH_DUMP") {
        let l = worker
            .latencies
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        let text: Vec<String> = l.iter().map(|d| format!("{}", d.as_micros())).collect();
        let _ = std::fs::write(path, text.join("\n"));
    }
    let samples = Samples::new(
        worker
            .latencies
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default(),
    );
    let m = Measurement::latency(format!("enqueue→start at {per_sec} jobs/s"), &samples)
        .setting("rate", per_sec)
        .detail(format!(
            "p50 / p99 of {} jobs over {} s (max {:.2} ms)",
            samples.len(),
            bench.args.latency_secs,
            samples.max().as_secs_f64() * 1e3
        ));
    Ok(bench.worker_settings(m, concurrency))
}
