//! `--scenario workflow`: a fan-out / fan-in workflow of `--workflow-jobs` jobs (one root, the
//! rest fanning out from it, and one sink depending on all of them), inserted in one call and
//! run to the end. Measures the insert, and the run with its dependency bookkeeping: releasing
//! thousands of dependants from one completion, and the sink from thousands.

use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::{Client, Workflow};

use super::{rate, Bench, Noop, NoopWorker, Row};

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Row>> {
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
    let runner = bench.runner(worker)?;
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
    Ok(vec![
        Row {
            name: "workflow insert".into(),
            value: format!("{:.1} ms", insert_time.as_secs_f64() * 1e3),
            detail: format!(
                "{n} jobs, {edges} dependencies, one call ({})",
                rate(n as u64, insert_time)
            ),
        },
        Row {
            name: "workflow run".into(),
            value: rate(n as u64, run_time),
            detail: format!(
                "{n}-job fan-out/fan-in run to the end in {:.2} s, concurrency {}",
                run_time.as_secs_f64(),
                bench.args.concurrency
            ),
        },
    ])
}
