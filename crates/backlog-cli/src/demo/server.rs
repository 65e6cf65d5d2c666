//! `backlog demo --server`: jobq's example run for real over the wire.
//!
//! A ZeroMQ server on the demo's database, separate worker processes connected to it (two Rust
//! ones — this binary's hidden `demo-worker` command, built on `backlog-remote` — and a Python
//! one when the `backlog_client` package imports), and a remote producer that submits jobs
//! alternating High and Normal priority, each taking 100 ms, every 12th failing. The summary
//! gives the states, the average duration per priority and who ran what.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use backlog::storage::{JobListParams, WorkerListParams};
use backlog::{Client, Job, JobArgs, JobError, JobState, Priority, Worker, Workers};
use backlog_protocol::JobSpec;
use backlog_remote::{RemoteProducer, RemoteWorker};
use backlog_server::ServerConfig;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::DemoArgs;

/// Every how many jobs one fails, as in jobq's example.
const FAIL_EVERY: usize = 12;
/// How long each job works.
const WORK: Duration = Duration::from_millis(100);
/// Jobs each worker process runs at once.
const CAPACITY: u32 = 10;

#[derive(Serialize, Deserialize)]
struct Task {
    n: usize,
    millis: u64,
    fail: bool,
}

impl JobArgs for Task {
    const KIND: &'static str = "demo_task";
}

struct Tasker;

impl Worker for Tasker {
    type Args = Task;
    async fn work(&self, job: Job<Task>) -> Result<(), JobError> {
        // The simulated work of the example.
        tokio::time::sleep(Duration::from_millis(job.args.millis)).await;
        if job.args.fail {
            return Err(JobError::discard(format!(
                "task {} fails on purpose (every {FAIL_EVERY}th does)",
                job.args.n
            )));
        }
        Ok(())
    }
}

/// The Python worker: the same job kind through the `backlog_client` package.
const PYTHON_WORKER: &str = r#"
import sys, threading, time
from backlog_client import Discard, Worker

worker = Worker(sys.argv[1], capacity=int(sys.argv[3]), worker_id=sys.argv[2])

@worker.register("demo_task")
def task(job):
    time.sleep(job.args["millis"] / 1000)
    if job.args["fail"]:
        raise Discard(f"task {job.args['n']} fails on purpose (every 12th does)")

# Stops gracefully when the demo closes our stdin.
threading.Thread(target=lambda: (sys.stdin.read(), worker.stop()), daemon=True).start()
worker.run(install_signal_handlers=False)
"#;

/// `backlog demo-worker`: one of the demo's worker processes (started by `demo --server`).
#[derive(Debug, Args)]
pub struct DemoWorkerArgs {
    /// The server's endpoint.
    #[arg(long)]
    connect: String,
    /// The worker's id (shown in the summary and the dashboard).
    #[arg(long)]
    id: String,
    /// Jobs run at once.
    #[arg(long, default_value_t = CAPACITY)]
    capacity: u32,
}

/// Runs a demo worker until its stdin closes (or Ctrl-C, handled from its first moment), then
/// stops gracefully.
pub async fn worker(args: DemoWorkerArgs) -> anyhow::Result<()> {
    let interrupt = crate::serve::stop_signal()?;
    let worker = RemoteWorker::builder([args.connect])
        .worker_id(args.id)
        .capacity(args.capacity)
        .grace(Duration::from_secs(10))
        .start(Workers::new().register(Tasker))?;
    worker
        .run_until(async {
            let mut sink = Vec::new();
            let mut stdin = tokio::io::stdin();
            tokio::select! {
                _ = stdin.read_to_end(&mut sink) => {}
                _ = interrupt => {}
            }
        })
        .await;
    Ok(())
}

/// Runs the demo through the server until every job is finished or `interrupt` (Ctrl-C)
/// resolves.
pub async fn run(
    args: DemoArgs,
    interrupt: Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let total = args.jobs.unwrap_or(500);
    let (db, url) = super::prepare(
        &args,
        &crate::disposable::Owned {
            command: "demo",
            queues: &["default"],
            kinds: &[Task::KIND],
        },
    )
    .await?;
    println!("Backlog demo over ZeroMQ on {}", db.describe);
    let client = Client::from_arc(db.storage.clone());
    let server = crate::serve_zmq::start(
        client.clone(),
        ServerConfig {
            endpoint: "tcp://127.0.0.1:0".into(),
            ..ServerConfig::default()
        },
    )?;
    let endpoint = server.endpoint().to_owned();

    let mut workers = Vec::new();
    let exe = std::env::current_exe().context("could not find this program to start workers")?;
    for i in 1..=2 {
        let id = format!("rust-{i}");
        let child = Command::new(&exe)
            .args(["demo-worker", "--connect", &endpoint, "--id", &id])
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not start worker process {id}"))?;
        workers.push((id, child));
    }
    if python_client_available().await {
        let child = Command::new("python3")
            .args([
                "-c",
                PYTHON_WORKER,
                &endpoint,
                "python-1",
                &CAPACITY.to_string(),
            ])
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("could not start the Python worker")?;
        workers.push(("python-1".into(), child));
    } else {
        println!("(no Python worker: `pip install ./clients/python` adds one)");
    }
    let names: Vec<&str> = workers.iter().map(|(id, _)| id.as_str()).collect();
    println!(
        "{} worker processes ({}), {CAPACITY} jobs at once each",
        workers.len(),
        names.join(", ")
    );

    connected(&client, &names).await;

    let started = Instant::now();
    let mut producer = RemoteProducer::connect(&endpoint, None)
        .await
        .context("the producer could not connect")?;
    let specs: Vec<JobSpec> = (0..total)
        .map(|n| {
            let task = Task {
                n,
                millis: WORK.as_millis() as u64,
                fail: (n + 1) % FAIL_EVERY == 0,
            };
            let mut spec = JobSpec::new(Task::KIND, serde_json::json!(task));
            spec.priority = Some(if n % 2 == 0 {
                Priority::HIGH
            } else {
                Priority::NORMAL
            });
            spec
        })
        .collect();
    for chunk in specs.chunks(100) {
        producer
            .enqueue_many(chunk.to_vec())
            .await
            .context("the server refused the jobs")?;
    }
    println!(
        "submitted {total} jobs through the server in {:.0} ms (High and Normal alternating, {} ms each, every {FAIL_EVERY}th fails)",
        started.elapsed().as_secs_f64() * 1000.0,
        WORK.as_millis()
    );

    let finished = wait(&client, total as u64, &mut workers, interrupt).await;
    let elapsed = started.elapsed();
    stop(workers).await;
    server.shutdown().await;
    finished?;
    summary(&client, total, elapsed).await?;
    let target = super::target(&args, &url);
    crate::serve::after_demo(&db, &target, args.serve, args.http).await
}

/// Waits (up to 10 s) until every worker process has said Hello, so the work is shared from the
/// first job.
async fn connected(client: &Client, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let listed = client
            .storage()
            .worker_list(WorkerListParams {
                seen_since: chrono::Utc::now() - chrono::Duration::minutes(1),
            })
            .await
            .unwrap_or_default();
        if names
            .iter()
            .all(|name| listed.iter().any(|w| w.report.id == *name))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("not every worker process connected within 10 s; submitting anyway");
}

/// Whether `python3` can import the Python client and its dependencies.
async fn python_client_available() -> bool {
    Command::new("python3")
        .args(["-c", "import backlog_client, zmq, cbor2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Shows progress until every job is finished; fails if every worker process died or nothing
/// finished for a minute, or `interrupt` resolved.
async fn wait(
    client: &Client,
    total: u64,
    workers: &mut [(String, Child)],
    mut interrupt: Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} finished  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last = (0, Instant::now());
    loop {
        let counts = client.storage().job_count_by_state().await?;
        let count = |state: JobState| -> u64 {
            counts
                .iter()
                .filter(|c| c.state == state)
                .map(|c| c.count)
                .sum()
        };
        let done =
            count(JobState::Completed) + count(JobState::Discarded) + count(JobState::Cancelled);
        bar.set_position(done);
        bar.set_message(format!("{} running", count(JobState::Running)));
        if done >= total {
            bar.finish();
            return Ok(());
        }
        if done > last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            bar.abandon_with_message("stalled");
            anyhow::bail!("no job finished for a minute; run with -v to see the server's log");
        }
        if workers
            .iter_mut()
            .all(|(_, child)| child.try_wait().ok().flatten().is_some())
        {
            bar.abandon_with_message("no workers");
            anyhow::bail!("every worker process exited; run with -v to see why");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = interrupt.as_mut() => {
                bar.abandon_with_message("interrupted");
                anyhow::bail!("interrupted");
            }
        }
    }
}

/// Closes each worker's stdin (its signal to stop gracefully) and waits for it; one that does
/// not stop within 15 s is killed.
async fn stop(workers: Vec<(String, Child)>) {
    for (id, mut child) in workers {
        drop(child.stdin.take());
        match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => eprintln!("worker {id} exited with {status}"),
            Ok(Err(error)) => eprintln!("worker {id}: {error}"),
            Err(_) => {
                eprintln!("worker {id} did not stop within 15 s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

async fn summary(client: &Client, total: usize, elapsed: Duration) -> anyhow::Result<()> {
    let rows = client
        .storage()
        .job_list(JobListParams {
            limit: total as u32 + 10,
            ..Default::default()
        })
        .await?;
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    // Per priority: (jobs, summed duration of their attempts in µs).
    let mut by_priority: BTreeMap<i16, (usize, i64)> = BTreeMap::new();
    let mut by_worker: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        *states.entry(row.state.as_str()).or_default() += 1;
        let entry = by_priority.entry(row.priority).or_default();
        entry.0 += 1;
        entry.1 += row.attempt_durations_us.iter().sum::<i64>();
        if let Some(worker) = row.attempted_by.last() {
            *by_worker.entry(worker.as_str()).or_default() += 1;
        }
    }
    println!("\nJobs per state:");
    for (state, n) in &states {
        println!("  {state:<10} {n:>6}");
    }
    println!("\nAverage duration per priority:");
    for (priority, (jobs, us)) in by_priority.iter().rev() {
        let name = match *priority {
            p if p == Priority::HIGH.0 => "high",
            p if p == Priority::NORMAL.0 => "normal",
            _ => "other",
        };
        println!(
            "  {name:<10} {:>6.1} ms  ({jobs} jobs)",
            *us as f64 / 1000.0 / (*jobs).max(1) as f64
        );
    }
    println!("\nJobs per worker process:");
    for (worker, n) in &by_worker {
        println!("  {worker:<10} {n:>6}");
    }
    println!(
        "\n{total} jobs in {:.2} s through the server ({:.0} jobs/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
