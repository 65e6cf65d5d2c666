//! Many hosts, one database: four worker processes, each in its own network namespace (its own
//! "host"), against one PostgreSQL cluster. Run alone by `scripts/hosts [--long]`; its short
//! profile is part of `scripts/faults`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use backlog::cron::{CronSchedule, Schedule};
use backlog::{Client, JobId, JobRow, JobState, QueueUpdateParams, RateLimit};
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::{Entry, Phase};
use backlog_faults::Work;

use crate::cluster::PgCluster;
use crate::netns::{unavailable, Netns};
use crate::procs::{Procs, WorkerOpts, BIN};
use crate::{entries, long, open, poll, rows, Scratch, SERIAL};

const HOSTS: usize = 4;
/// Workers of the throughput and wake-up phases poll only every 30 s: a job picked up sooner
/// was woken by a NOTIFY.
const SLOW_POLL_MS: &str = "30000";
/// Workers of the limit phases poll every 200 ms: a fetch refused by a cluster-wide limit is
/// retried at the next poll (no wake-up is sent when a running job of the queue finishes).
const FAST_POLL_MS: &str = "200";
const OPTS: WorkerOpts = WorkerOpts {
    lease_ms: 5000,
    leader_ttl_ms: 1500,
    concurrency: 4,
};

/// The four hosts and the cluster they share. Fields drop in this order: the processes are
/// killed first, then the cluster stops, then the namespaces go.
struct Hosts {
    procs: Procs,
    client: Client,
    cluster: PgCluster,
    nss: Vec<Netns>,
}

impl Hosts {
    fn start_worker(&mut self, host: usize, poll_ms: &str) -> u32 {
        let ns = &self.nss[host];
        let url = ns.pg_url(self.cluster.port());
        self.procs
            .worker_via(ns.command(BIN), &url, OPTS, &["--poll-ms", poll_ms])
    }

    /// Enqueues `n` jobs of `ms` each from the test process.
    async fn enqueue(&self, n: usize, ms: u64) -> Vec<JobId> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let job = Work {
                ms,
                fail_attempts: 0,
            };
            ids.push(self.client.enqueue(job).await.expect("enqueue"));
        }
        ids
    }

    /// Waits until every job is completed; returns the rows of `ids`.
    async fn completed(&self, ids: &[JobId]) -> Vec<JobRow> {
        let all = poll("every job completed", Duration::from_secs(120), || async {
            let all = rows(&self.client, &[]).await;
            all.iter()
                .all(|r| r.state == JobState::Completed)
                .then_some(all)
        })
        .await;
        all.into_iter().filter(|r| ids.contains(&r.id)).collect()
    }
}

/// Seconds between two database times.
fn secs(to: chrono::DateTime<chrono::Utc>, from: chrono::DateTime<chrono::Utc>) -> f64 {
    (to.timestamp_micros() - from.timestamp_micros()) as f64 / 1e6
}

/// Jobs per second from the first claim to the last completion (database clock).
fn throughput(done: &[JobRow]) -> f64 {
    let first = done.iter().filter_map(|r| r.attempted_at).min();
    let last = done.iter().filter_map(|r| r.finalized_at).max();
    match (first, last) {
        (Some(first), Some(last)) => done.len() as f64 / secs(last, first).max(1e-3),
        _ => 0.0,
    }
}

/// The most executions of `ids` in progress at once, from the ledgers' start and end lines.
fn max_overlap(ledger: &[Entry], ids: &[JobId]) -> usize {
    let mut events: Vec<(i64, i32)> = ledger
        .iter()
        .filter(|e| ids.contains(&e.job))
        .map(|e| (e.at_us, if e.phase == Phase::Start { 1 } else { -1 }))
        .collect();
    // Ends before starts at the same microsecond.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

/// The last `leader` line a worker printed.
fn leads(out: &Path) -> bool {
    std::fs::read_to_string(out)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find_map(|l| l.strip_prefix("leader ").map(|v| v == "true"))
        })
        .unwrap_or(false)
}

/// One host, then four: no job runs twice, wake-ups cross namespaces, max-running, a queue
/// rate limit and cron's one job per tick hold across hosts, and leadership moves when the
/// leader's host is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults or scripts/hosts"]
async fn postgres_four_hosts_share_one_database() {
    let _serial = SERIAL.lock().await;
    if let Some(reason) = unavailable() {
        println!("faults: scenario=hosts SKIPPED: {reason}");
        return;
    }
    let nss: Vec<Netns> = (0..HOSTS).map(|_| Netns::create()).collect();
    let addrs: Vec<&str> = nss.iter().map(|n| n.host_ip.as_str()).collect();
    let cluster = PgCluster::start_listening(&addrs);
    let client = open(&cluster.url()).await;
    let scratch = Scratch::new("hosts");
    let mut hosts = Hosts {
        nss,
        cluster,
        client,
        procs: Procs::new(&scratch.0),
    };
    let n = if long() { 2000 } else { 400 };

    // Throughput: one host, then four, on jobs enqueued beforehand.
    let one_ids = hosts.enqueue(n, 0).await;
    let one = hosts.start_worker(0, SLOW_POLL_MS);
    let one_done = hosts.completed(&one_ids).await;
    assert!(
        hosts.procs.stop(one, Duration::from_secs(30)),
        "{}",
        hosts.procs.errors()
    );
    let four_ids = hosts.enqueue(n, 0).await;
    let slow: Vec<u32> = (0..HOSTS)
        .map(|h| hosts.start_worker(h, SLOW_POLL_MS))
        .collect();
    let four_done = hosts.completed(&four_ids).await;
    let ran_on: BTreeSet<&String> = four_done
        .iter()
        .filter_map(|r| r.attempted_by.last())
        .collect();
    assert_eq!(
        ran_on.len(),
        HOSTS,
        "every host should have run jobs: {ran_on:?}"
    );
    let all: Vec<JobRow> = one_done.iter().chain(&four_done).cloned().collect();
    let ids: Vec<JobId> = one_ids.iter().chain(&four_ids).copied().collect();
    let report = check(
        &all,
        &ids,
        &entries(&hosts.procs.ledgers()),
        &Faults::default(),
    );
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert_eq!(report.duplicates, 0, "a job ran twice with no fault");
    println!(
        "faults: scenario=hosts_throughput jobs_per_run={n} one_host={:.0}/s four_hosts={:.0}/s {report}",
        throughput(&one_done),
        throughput(&four_done)
    );

    // Wake-ups: the hosts are idle and poll every 30 s; a producer process in the root
    // namespace enqueues, its NOTIFY wakes them. (The last job of the batch once waited 30 s
    // here: the producer's storage was dropped right after its insert, and its wake-up task
    // stopped before sending that wake-up. It now sends what was queued before it ends.)
    let producer = hosts.procs.producer(&hosts.cluster.url(), 20, 10);
    let woken_ids = poll("20 acknowledged enqueues", Duration::from_secs(60), || {
        let files = hosts.procs.acked_files();
        async move {
            let ids = crate::acked(&files);
            (ids.len() == 20).then_some(ids)
        }
    })
    .await;
    let woken = hosts.completed(&woken_ids).await;
    let wake = woken
        .iter()
        .filter_map(|r| Some(secs(r.attempted_at?, r.created_at)))
        .fold(0.0f64, f64::max);
    assert_eq!(woken.len(), 20);
    assert!(
        hosts.procs.stop(producer, Duration::from_secs(60)),
        "{}",
        hosts.procs.errors()
    );
    let waits: Vec<String> = woken
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{}:{:.2}s",
                r.id,
                secs(r.attempted_at?, r.created_at)
            ))
        })
        .collect();
    assert!(
        wake < 5.0,
        "a job waited {wake:.1}s for a host polling every 30s: no wake-up (waits {waits:?})"
    );
    for pid in slow {
        assert!(
            hosts.procs.stop(pid, Duration::from_secs(60)),
            "{}",
            hosts.procs.errors()
        );
    }
    let pids: Vec<u32> = (0..HOSTS)
        .map(|h| hosts.start_worker(h, FAST_POLL_MS))
        .collect();

    // Cluster-wide max running: 3 across 16 slots.
    let update = |max_running, rate_limit| QueueUpdateParams {
        queue: "default".to_owned(),
        max_running,
        rate_limit,
        partition_max_running: None,
    };
    hosts
        .client
        .queue_update(update(Some(Some(3)), None))
        .await
        .expect("limit");
    let limited_ids = hosts.enqueue(40, 100).await;
    hosts.completed(&limited_ids).await;
    let overlap = max_overlap(&entries(&hosts.procs.ledgers()), &limited_ids);
    assert!(
        overlap <= 3,
        "{overlap} jobs ran at once under max_running 3"
    );
    hosts
        .client
        .queue_update(update(Some(None), None))
        .await
        .expect("unlimit");

    // Cluster-wide rate limit: a bucket of 5, refilled at 5/s.
    let rate = RateLimit {
        max: 5,
        period: Duration::from_secs(1),
    };
    hosts
        .client
        .queue_update(update(None, Some(Some(rate))))
        .await
        .expect("rate");
    let rated_ids = hosts.enqueue(30, 0).await;
    let rated = hosts.completed(&rated_ids).await;
    let mut starts: Vec<_> = rated.iter().filter_map(|r| r.attempted_at).collect();
    starts.sort();
    for i in 0..starts.len() {
        for j in i..starts.len() {
            let allowed = 5.0 + 5.0 * secs(starts[j], starts[i]) + 1.0;
            assert!(
                (j - i + 1) as f64 <= allowed,
                "{} jobs started in {:.2}s under a 5/s rate limit",
                j - i + 1,
                secs(starts[j], starts[i])
            );
        }
    }
    let rated_span = secs(starts[starts.len() - 1], starts[0]);
    hosts
        .client
        .queue_update(update(None, Some(None)))
        .await
        .expect("unrate");

    // Cron: every host runs maintenance; each tick of a 1 s schedule gives one job.
    let schedule = Schedule::every(Duration::from_secs(1)).expect("a schedule");
    let cron = CronSchedule::new(
        "hosts_tick",
        "fault_work",
        serde_json::json!({ "ms": 10 }),
        schedule,
    )
    .tag("hosts_tick");
    hosts.client.cron_upsert(cron).await.expect("cron upsert");
    poll("5 cron ticks", Duration::from_secs(30), || async {
        let ticks: Vec<JobRow> = rows(&hosts.client, &[])
            .await
            .into_iter()
            .filter(|r| r.tags.iter().any(|t| t == "hosts_tick"))
            .collect();
        (ticks.len() >= 5).then_some(())
    })
    .await;
    hosts
        .client
        .cron_delete("hosts_tick")
        .await
        .expect("cron delete");
    let ticked: Vec<JobRow> = rows(&hosts.client, &[])
        .await
        .into_iter()
        .filter(|r| r.tags.iter().any(|t| t == "hosts_tick"))
        .collect();
    let mut at: Vec<_> = ticked.iter().map(|r| r.scheduled_at).collect();
    at.sort();
    let distinct: BTreeSet<_> = at.iter().collect();
    assert_eq!(
        distinct.len(),
        at.len(),
        "a cron tick was enqueued twice: {at:?}"
    );
    for pair in at.windows(2) {
        assert!(
            (secs(pair[1], pair[0]) - 1.0).abs() < 0.01,
            "cron ticks not one second apart: {at:?}"
        );
    }

    // Leader handover: cut the leader's host off; another host takes over.
    let outs: Vec<_> = pids
        .iter()
        .map(|&p| hosts.procs.proc(p).out.clone())
        .collect();
    let leader = poll(
        "one leader among the hosts",
        Duration::from_secs(30),
        || {
            let outs = outs.clone();
            async move {
                let leading: Vec<usize> = (0..HOSTS).filter(|&h| leads(&outs[h])).collect();
                (leading.len() == 1).then(|| leading[0])
            }
        },
    )
    .await;
    hosts.nss[leader].partition();
    let cut_at = Instant::now();
    let next = poll("another host to lead", Duration::from_secs(30), || {
        let outs = outs.clone();
        async move { (0..HOSTS).find(|&h| h != leader && leads(&outs[h])) }
    })
    .await;
    let handover = cut_at.elapsed().as_secs_f64();
    hosts.nss[leader].heal();
    for pid in pids {
        assert!(
            hosts.procs.stop(pid, Duration::from_secs(60)),
            "{}",
            hosts.procs.errors()
        );
    }
    println!(
        "faults: scenario=hosts hosts={HOSTS} wakeup_max={wake:.2}s max_running=3 overlap_max={overlap} rate=5/s rated_jobs=30 rated_span={rated_span:.1}s cron_ticks={} leader_host={leader} new_leader_host={next} handover={handover:.1}s",
        at.len()
    );
}
