//! Worker processes whose wall clock is 10 minutes ahead or behind (libfaketime preloaded into
//! the child): leases, schedules and retry backoff follow the database's clock.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use backlog::{Backoff, InsertOpts, JobState};
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::now_us;
use backlog_faults::Work;

use crate::cluster::PgCluster;
use crate::procs::{Procs, WorkerOpts, BIN};
use crate::{entries, open, poll, rows, Scratch, SERIAL};

/// Debian's libfaketime (package `faketime`), under the multiarch directory of this machine.
fn libfaketime() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
}
const SKEW_S: i64 = 600;

/// Seconds from `from` to `to`.
fn secs(to: chrono::DateTime<chrono::Utc>, from: chrono::DateTime<chrono::Utc>) -> f64 {
    (to.timestamp_micros() - from.timestamp_micros()) as f64 / 1e6
}

/// Two workers, one 10 minutes fast and one 10 minutes slow, run jobs longer than their lease,
/// jobs scheduled 2 s ahead and jobs that fail once with a 2 s backoff. A lease judged by a
/// worker's clock would be rescued at once (fast clock) and a schedule judged by it would run
/// 10 minutes early or late: none of that may happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_skewed_worker_clocks_follow_the_database() {
    let _serial = SERIAL.lock().await;
    let Some(faketime) = libfaketime() else {
        println!(
            "faults: scenario=clock_skew SKIPPED: no /usr/lib/*/faketime/libfaketime.so.1 (Debian: apt-get install faketime)"
        );
        return;
    };
    let cluster = PgCluster::start();
    let url = cluster.url();
    let scratch = Scratch::new("skew");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 1500,
        leader_ttl_ms: 1500,
        concurrency: 4,
    };
    let mut procs = Procs::new(&scratch.0);
    let mut skews = Vec::new();
    for skew in ["+10m", "-10m"] {
        let mut command = Command::new(BIN);
        command
            .env("LD_PRELOAD", &faketime)
            .env("FAKETIME", skew)
            // Timers and timeouts use the monotonic clock; only the wall clock is skewed.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        let pid = procs.worker_via(command, &url, opts, &[]);
        skews.push((
            pid,
            if skew.starts_with('+') {
                SKEW_S
            } else {
                -SKEW_S
            },
        ));
    }
    let long_jobs: Vec<_> = {
        let mut ids = Vec::new();
        for _ in 0..8 {
            let job = Work {
                ms: 3500,
                fail_attempts: 0,
            };
            ids.push(client.enqueue(job).await.expect("enqueue"));
        }
        ids
    };
    let mut scheduled = Vec::new();
    let mut retried = Vec::new();
    for _ in 0..4 {
        let later = InsertOpts::new().run_after(Duration::from_secs(2));
        let job = Work {
            ms: 50,
            fail_attempts: 0,
        };
        scheduled.push(client.enqueue_with(job, later).await.expect("enqueue"));
        let backoff = InsertOpts::new().backoff(Backoff::Linear {
            step: Duration::from_secs(2),
            max: Duration::from_secs(2),
        });
        let job = Work {
            ms: 50,
            fail_attempts: 1,
        };
        retried.push(client.enqueue_with(job, backoff).await.expect("enqueue"));
    }
    let done = poll("every job completed", Duration::from_secs(90), || async {
        let all = rows(&client, &[]).await;
        all.iter()
            .all(|r| r.state == JobState::Completed)
            .then_some(all)
    })
    .await;
    let ledger = entries(&procs.ledgers());
    // The fault was injected: each worker's ledger times are its skewed clock.
    let now = now_us();
    for &(pid, skew) in &skews {
        let last = ledger
            .iter()
            .filter(|e| e.pid == pid)
            .map(|e| e.at_us)
            .max()
            .unwrap_or_else(|| panic!("worker {pid} (skew {skew}s) ran nothing"));
        let off = (last - now) as f64 / 1e6;
        assert!(
            (off - skew as f64).abs() < 60.0,
            "worker {pid}'s clock is off by {off:.0}s, not {skew}s: libfaketime did not apply"
        );
    }
    let mut max_late = 0.0f64;
    for row in &done {
        let started = row.attempted_at.expect("a completed job was attempted");
        assert_eq!(
            row.rescue_count, 0,
            "job {} was rescued though its worker was alive: {row:?}",
            row.id
        );
        if long_jobs.contains(&row.id) {
            assert_eq!(row.attempt, 1, "job {} ran more than once", row.id);
        }
        if scheduled.contains(&row.id) {
            let delay = secs(row.scheduled_at, row.created_at);
            assert!(
                (1.9..2.6).contains(&delay),
                "job {} was scheduled {delay:.1}s after its creation, not 2s",
                row.id
            );
            let late = secs(started, row.scheduled_at);
            assert!(
                (0.0..2.0).contains(&late),
                "job {} started {late:.1}s after its run time",
                row.id
            );
            max_late = max_late.max(late);
        }
        if retried.contains(&row.id) {
            assert_eq!(row.attempt, 2, "job {}: {row:?}", row.id);
            let failed = row.errors.first().expect("the first attempt's error").at;
            let wait = secs(started, failed);
            assert!(
                (1.9..4.0).contains(&wait),
                "job {} was retried {wait:.1}s after its failure, not after the 2s backoff",
                row.id
            );
        }
    }
    for pid in skews.iter().map(|s| s.0).collect::<Vec<_>>() {
        assert!(
            procs.stop(pid, Duration::from_secs(30)),
            "{}",
            procs.errors()
        );
    }
    // No job but the planned retries ran twice.
    let once: Vec<_> = done
        .iter()
        .filter(|r| !retried.contains(&r.id))
        .cloned()
        .collect();
    let ledger: Vec<_> = ledger
        .into_iter()
        .filter(|e| !retried.contains(&e.job))
        .collect();
    let report = check(&once, &[], &ledger, &Faults::default());
    println!(
        "faults: scenario=clock_skew skews=+600s,-600s {report} rescued=0 scheduled_max_late={max_late:.1}s"
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}
