//! The scenarios.

use std::collections::BTreeSet;
use std::time::Duration;

use backlog::JobState;
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::{now_us, Phase};
use backlog_faults::Work;

use crate::cluster::PgCluster;
use crate::procs::{Procs, WorkerOpts};
use crate::{acked, entries, last_stats, long, open, poll, rows, Scratch, SERIAL};

const KILL_OPTS: WorkerOpts = WorkerOpts {
    lease_ms: 2000,
    leader_ttl_ms: 2000,
    concurrency: 4,
};

/// SIGKILLs workers holding running jobs, `kills` times, restarting one each time; then every
/// job must complete, every acknowledged enqueue exist, and a job may run twice only when its
/// earlier execution was in a killed process.
async fn kill_workers(name: &str, url: &str, workers: usize, scratch: &Scratch) {
    let (jobs, kills) = if long() { (1500, 20) } else { (300, 5) };
    let client = open(url).await;
    let mut procs = Procs::new(&scratch.0);
    let producer = procs.producer(url, jobs, 50);
    for _ in 0..workers {
        procs.worker(url, KILL_OPTS);
    }
    let mut faults = Faults::default();
    let mut kill_times = Vec::new();
    for _ in 0..kills {
        let live: BTreeSet<u32> = procs.running().into_iter().collect();
        let (job, pid) = poll(
            "a running job held by a live worker",
            Duration::from_secs(60),
            || {
                let client = &client;
                let live = &live;
                async move {
                    rows(client, &[JobState::Running])
                        .await
                        .into_iter()
                        .find_map(|row| {
                            let pid: u32 = row
                                .attempted_by
                                .last()?
                                .strip_prefix("faults:")?
                                .parse()
                                .ok()?;
                            live.contains(&pid).then_some((row.id, pid))
                        })
                }
            },
        )
        .await;
        procs.kill(pid);
        faults.faulted_pids.insert(pid);
        kill_times.push((job, now_us()));
        procs.worker(url, KILL_OPTS);
    }
    assert!(
        procs.wait_exit(producer, Duration::from_secs(120)),
        "the producer failed: {}",
        procs.errors()
    );
    let done = poll("every job completed", Duration::from_secs(120), || async {
        let all = rows(&client, &[]).await;
        all.iter()
            .all(|r| r.state == JobState::Completed)
            .then_some(all)
    })
    .await;
    let report = check(
        &done,
        &acked(&procs.acked_files()),
        &entries(&procs.ledgers()),
        &faults,
    );
    let recovery = kill_times
        .iter()
        .filter_map(|&(job, at)| {
            let row = done.iter().find(|r| r.id == job)?;
            Some(row.finalized_at?.timestamp_micros() - at)
        })
        .max()
        .unwrap_or(0);
    println!(
        "faults: scenario={name} kills={kills} {report} recovery_max={:.1}s",
        recovery as f64 / 1e6
    );
    assert!(
        report.is_ok(),
        "{name}: {:#?}\n{}",
        report.problems,
        procs.errors()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_sigkill_workers_repeatedly() {
    let _serial = SERIAL.lock().await;
    let cluster = PgCluster::start();
    let scratch = Scratch::new("pgkill");
    kill_workers("pg_sigkill", &cluster.url(), 3, &scratch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn sqlite_sigkill_workers_on_one_file() {
    let _serial = SERIAL.lock().await;
    let scratch = Scratch::new("sqkill");
    let url = format!("sqlite://{}", scratch.0.join("jobs.sqlite3").display());
    kill_workers("sqlite_sigkill", &url, 3, &scratch).await;
}

/// `pg_ctl stop -m immediate` and a restart while producers and workers run, shorter than the
/// lease: nothing lost, every acknowledged enqueue present; duplicates only for executions that
/// overlapped the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_crash_and_restart_under_load() {
    let _serial = SERIAL.lock().await;
    let (jobs, crashes) = if long() { (800, 4) } else { (250, 1) };
    let cluster = PgCluster::start();
    let url = cluster.url();
    let scratch = Scratch::new("pgcrash");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 10_000,
        leader_ttl_ms: 2000,
        concurrency: 4,
    };
    let mut procs = Procs::new(&scratch.0);
    let producers = [
        procs.producer(&url, jobs, 20),
        procs.producer(&url, jobs, 20),
    ];
    procs.worker(&url, opts);
    procs.worker(&url, opts);
    let mut faults = Faults::default();
    for n in 1..=crashes {
        let target = usize::try_from(2 * jobs * n / (crashes + 1)).unwrap_or(usize::MAX);
        poll(
            "enqueues before the crash",
            Duration::from_secs(120),
            || async { (acked(&procs.acked_files()).len() >= target).then_some(()) },
        )
        .await;
        let from = now_us();
        cluster.crash();
        cluster.start_server();
        faults.outages.push((from, now_us()));
    }
    for producer in producers {
        assert!(
            procs.wait_exit(producer, Duration::from_secs(120)),
            "a producer failed: {}",
            procs.errors()
        );
    }
    let done = poll("every job completed", Duration::from_secs(120), || async {
        let all = rows(&client, &[]).await;
        all.iter()
            .all(|r| r.state == JobState::Completed)
            .then_some(all)
    })
    .await;
    let report = check(
        &done,
        &acked(&procs.acked_files()),
        &entries(&procs.ledgers()),
        &faults,
    );
    // Recovery: from the end of the last outage to the first job completed after it.
    let back = faults.outages.last().map_or(0, |o| o.1);
    let recovery = done
        .iter()
        .filter_map(|r| r.finalized_at.map(|t| t.timestamp_micros() - back))
        .filter(|&d| d >= 0)
        .min()
        .unwrap_or(-1);
    println!(
        "faults: scenario=pg_crash_restart crashes={crashes} {report} recovery={:.1}s",
        recovery as f64 / 1e6
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}

/// A worker frozen with SIGSTOP past its lease: another worker rescues and runs the job; after
/// SIGCONT the frozen worker's late writes are refused (fenced or lease lost), and the job's
/// final row is the second execution's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_frozen_worker_is_fenced() {
    let _serial = SERIAL.lock().await;
    let cluster = PgCluster::start();
    let url = cluster.url();
    let scratch = Scratch::new("pgfreeze");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 1500,
        leader_ttl_ms: 1500,
        concurrency: 1,
    };
    let mut procs = Procs::new(&scratch.0);
    let frozen = procs.worker(&url, opts);
    let job = client
        .enqueue(Work {
            ms: 3000,
            fail_attempts: 0,
        })
        .await
        .expect("enqueue");
    let ledgers = || procs.ledgers();
    let started_in = |pid: u32, files: &[std::path::PathBuf]| {
        entries(files)
            .into_iter()
            .find(|e| e.phase == Phase::Start && e.pid == pid && e.job == job)
    };
    let first = poll(
        "the first worker to start the job",
        Duration::from_secs(30),
        || {
            let files = ledgers();
            async move { started_in(frozen, &files) }
        },
    )
    .await;
    procs.signal(frozen, "STOP");
    let stopped_at = now_us();
    let mut faults = Faults::default();
    faults.faulted_pids.insert(frozen);
    let rescuer = procs.worker(&url, opts);
    let files = procs.ledgers();
    let second = poll(
        "the job run by the second worker",
        Duration::from_secs(30),
        || {
            let files = files.clone();
            async move { started_in(rescuer, &files) }
        },
    )
    .await;
    // Wake the frozen worker while the second execution runs: its late outcome must be refused.
    procs.signal(frozen, "CONT");
    let out = procs.proc(frozen).out.clone();
    let (fenced, lost) = poll(
        "the woken worker to notice",
        Duration::from_secs(30),
        || {
            let out = out.clone();
            async move { last_stats(&out).filter(|&(f, l)| f + l > 0) }
        },
    )
    .await;
    let row = poll("the job completed", Duration::from_secs(30), || async {
        let row = client.job_get(job).await.ok().flatten()?;
        (row.state == JobState::Completed).then_some(row)
    })
    .await;
    assert!(
        procs.stop(frozen, Duration::from_secs(20)),
        "{}",
        procs.errors()
    );
    assert!(
        procs.stop(rescuer, Duration::from_secs(20)),
        "{}",
        procs.errors()
    );
    let after = client
        .job_get(job)
        .await
        .expect("get")
        .expect("the job exists");
    assert_eq!(after.state, JobState::Completed);
    assert_eq!(
        after.lease_token, row.lease_token,
        "the final row changed after the old worker stopped"
    );
    let token = after.lease_token.map(|t| t.to_string());
    assert_eq!(
        token.as_deref(),
        Some(second.token.as_str()),
        "the second execution's outcome counts"
    );
    assert_ne!(
        first.token, second.token,
        "each claim has its own lease token"
    );
    let report = check(
        std::slice::from_ref(&after),
        &[job],
        &entries(&procs.ledgers()),
        &faults,
    );
    let recovery = after
        .finalized_at
        .map_or(-1, |t| t.timestamp_micros() - stopped_at);
    println!(
        "faults: scenario=pg_sigstop {report} frozen_fenced={fenced} frozen_leases_lost={lost} recovery={:.1}s",
        recovery as f64 / 1e6
    );
    assert!(report.is_ok(), "{:#?}", report.problems);
}
