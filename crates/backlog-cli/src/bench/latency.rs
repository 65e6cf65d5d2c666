//! Enqueue-to-start latency at steady offered loads, one job per enqueue, workers idle-waiting.

use std::time::{Duration, Instant};

use backlog::Client;

use super::{unix_ns, Bench, Noop, NoopWorker, Row};
use crate::percentiles::{ms, Samples};

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &per_sec in &bench.args.rates {
        bench.reset().await?;
        let worker = NoopWorker::default();
        let runner = bench.runner(worker.clone())?;
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
        rows.push(Row {
            name: format!("enqueue→start at {per_sec} jobs/s"),
            value: format!(
                "{} / {}",
                ms(samples.percentile(50.0)),
                ms(samples.percentile(99.0))
            ),
            detail: format!(
                "p50 / p99 of {} jobs over {} s (max {})",
                samples.len(),
                bench.args.latency_secs,
                ms(samples.max())
            ),
        });
    }
    Ok(rows)
}
