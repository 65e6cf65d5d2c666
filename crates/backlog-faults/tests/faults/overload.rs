//! Overload: producers enqueue at twice what the workers can run, for a while. Every enqueue
//! is acknowledged (or refused with an error saying why, then retried), the backlog waits in
//! the database, every process's memory stays bounded, and the backlog drains afterwards with
//! nothing lost.

use std::time::{Duration, Instant};

use backlog::JobState;
use backlog_faults::check::{check, Faults};

use crate::cluster::PgCluster;
use crate::procs::{Procs, WorkerOpts};
use crate::{acked, entries, long, open, peak_memory, poll, refusals, rows, Scratch, SERIAL};

/// Peak resident memory allowed to any one process of the scenario. A producer or worker that
/// buffered the backlog in memory instead of leaving it in the database would pass this.
const MEMORY_BOUND_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_overload_twice_the_capacity() {
    let _serial = SERIAL.lock().await;
    // Two workers x 2 slots x 50 ms jobs: 80 jobs/s. Two producers at 80/s each: 160/s.
    let seconds: u64 = if long() { 60 } else { 10 };
    let (job_ms, rate) = (50, 80u32);
    let per_producer = u64::from(rate) * seconds;
    let cluster = PgCluster::start();
    let url = cluster.url();
    let scratch = Scratch::new("overload");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 5000,
        leader_ttl_ms: 2000,
        concurrency: 2,
    };
    let mut procs = Procs::new(&scratch.0);
    let workers = [procs.worker(&url, opts), procs.worker(&url, opts)];
    let started = Instant::now();
    let producers = [
        procs.producer_at(&url, per_producer, job_ms, rate),
        procs.producer_at(&url, per_producer, job_ms, rate),
    ];
    for producer in producers {
        assert!(
            procs.wait_exit(producer, Duration::from_secs(seconds * 3 + 60)),
            "a producer failed: {}",
            procs.errors()
        );
    }
    let produced_in = started.elapsed();
    let completed_then = rows(&client, &[JobState::Completed]).await.len();
    let acked_ids = acked(&procs.acked_files());
    assert_eq!(
        acked_ids.len() as u64,
        2 * per_producer,
        "every enqueue acknowledged"
    );
    let enqueue_rate = acked_ids.len() as f64 / produced_in.as_secs_f64();
    let run_rate = completed_then as f64 / produced_in.as_secs_f64();
    // The overload was real: at the end of the load most of it was still waiting.
    assert!(
        enqueue_rate >= 1.5 * run_rate,
        "no overload: {enqueue_rate:.0}/s enqueued, {run_rate:.0}/s run"
    );
    let backlog_at_end = acked_ids.len() - completed_then;
    let done = poll(
        "the backlog drained",
        Duration::from_secs(seconds * 4 + 120),
        || async {
            let all = rows(&client, &[]).await;
            all.iter()
                .all(|r| r.state == JobState::Completed)
                .then_some(all)
        },
    )
    .await;
    let drained_in = started.elapsed() - produced_in;
    for worker in workers {
        assert!(
            procs.stop(worker, Duration::from_secs(20)),
            "{}",
            procs.errors()
        );
    }
    let mut peaks = Vec::new();
    for pid in workers.iter().chain(&producers) {
        let out = procs.proc(*pid).out.clone();
        let peak =
            peak_memory(&out).unwrap_or_else(|| panic!("process {pid} did not report its memory"));
        assert!(
            peak < MEMORY_BOUND_KIB,
            "process {pid} peaked at {peak} KiB (bound {MEMORY_BOUND_KIB} KiB)"
        );
        peaks.push(peak);
    }
    let mut refused = Vec::new();
    for pid in producers {
        refused.extend(refusals(&procs.proc(pid).out));
    }
    for message in &refused {
        assert!(
            message.len() > 20,
            "a refusal does not say what went wrong: `{message}`"
        );
    }
    let report = check(
        &done,
        &acked_ids,
        &entries(&procs.ledgers()),
        &Faults::default(),
    );
    println!(
        "faults: scenario=pg_overload seconds={seconds} enqueued={}/s ran={run_rate:.0}/s backlog_at_end={backlog_at_end} drained_in={:.1}s refused={} peak_rss_max={}MiB {report}",
        enqueue_rate.round(),
        drained_in.as_secs_f64(),
        refused.len(),
        peaks.iter().max().copied().unwrap_or(0) / 1024,
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}
