//! `--scenario workflow`: a fan-out / fan-in workflow of `--workflow-jobs` jobs (one root, the
//! rest fanning out from it, and one sink depending on all of them), inserted in one call and
//! run to the end. Measures the insert, and the run with its dependency bookkeeping: releasing
//! thousands of dependants from one completion, and the sink from thousands.

use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::{Client, Workflow};

use super::scenarios::DEFAULT_CONCURRENCY;
use super::{Bench, Measurement, Noop, NoopWorker};

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        bench.reset().await?;
        measured.extend(run_at(bench, concurrency).await?);
    }
    Ok(measured)
}

async fn run_at(bench: &Bench, concurrency: usize) -> anyhow::Result<Vec<Measurement>> {
    let n = bench.args.workflow_jobs.max(3);
    let client = Client::from_arc(bench.db.storage.clone());
    let mut workflow = Workflow::new("bench fan-out/fan-in");
    let root = workflow.add(Noop { sent_ns: 0 });
    let middles: Vec<_> = (0..n - 2)
        .map(|_| workflow.add_after(Noop { sent_ns: 0 }, &[root]))
        .collect();
    workflow.add_after(Noop { sent_ns: 0 }, &middles);
    let edges = 2 * (n - 2);
    let started = Instant::now();
    let inserted = client
        .workflow_insert(workflow)
        .await
        .context("could not insert the workflow")?;
    let insert_time = started.elapsed();
    let sink = *inserted.job_ids.last().context("no job ids")?;

    let worker = NoopWorker::default();
    let started = Instant::now();
    let runner = bench.runner(worker, concurrency)?;
    // A benchmark, not a test: poll the counter like the drain measurement does.
    while runner.stats().completed < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let run_time = started.elapsed();
    runner.shutdown(Duration::from_secs(10)).await;
    let sink_row = client
        .job_get(sink)
        .await?
        .context("the sink job is missing")?;
    anyhow::ensure!(
        sink_row.state == backlog::JobState::Completed,
        "the sink ended {}",
        sink_row.state
    );
    let insert_rate = n as f64 / insert_time.as_secs_f64().max(1e-9);
    let mut insert = Measurement::time("workflow insert", insert_time)
        .jobs(n as u64)
        .detail(format!(
            "{n} jobs, {edges} dependencies, one call ({insert_rate:.0} jobs/s)"
        ));
    insert.jobs_per_s = Some(insert_rate);
    let run = Measurement::rate("workflow run", n as u64, run_time).detail(format!(
        "{n}-job fan-out/fan-in run to the end in {:.2} s",
        run_time.as_secs_f64()
    ));
    Ok(vec![insert, bench.worker_settings(run, concurrency)])
}
