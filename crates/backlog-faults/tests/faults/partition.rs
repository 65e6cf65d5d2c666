//! A worker in its own network namespace, reaching PostgreSQL over a veth pair, cut off
//! (iptables DROP) past its lease while it holds jobs, then healed.

use std::time::Duration;

use backlog::JobState;
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::{now_us, Phase};
use backlog_faults::Work;

use crate::cluster::PgCluster;
use crate::netns::{unavailable, Netns};
use crate::procs::{Procs, WorkerOpts, BIN};
use crate::{entries, last_stats, long, open, poll, rows, Scratch, SERIAL};

/// The worker cut off while running jobs loses its leader lease and its claims; a worker on
/// the host takes over, rescues and re-runs its jobs; once healed, the cut worker's late writes
/// (lease extensions, outcomes) are refused, the final rows stay the rescuer's, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_partitioned_worker_is_fenced() {
    let _serial = SERIAL.lock().await;
    if let Some(reason) = unavailable() {
        println!("faults: scenario=pg_partition SKIPPED: {reason}");
        return;
    }
    let mut ns = Netns::create();
    let cluster = PgCluster::start_listening(&[&ns.host_ip]);
    let url = cluster.url();
    let scratch = Scratch::new("pgpart");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 1500,
        leader_ttl_ms: 1500,
        concurrency: 4,
    };
    let total = if long() { 24 } else { 8 };
    let mut procs = Procs::new(&scratch.0);
    let cut = procs.worker_via(ns.command(BIN), &ns.pg_url(cluster.port()), opts, &[]);
    let mut ids = Vec::new();
    for _ in 0..total {
        let job = Work {
            ms: 2000,
            fail_attempts: 0,
        };
        ids.push(client.enqueue(job).await.expect("enqueue"));
    }
    let held = poll(
        "the namespaced worker to hold 4 running jobs",
        Duration::from_secs(30),
        || {
            let files = procs.ledgers();
            async move {
                let held: Vec<i64> = entries(&files)
                    .iter()
                    .filter(|e| e.phase == Phase::Start && e.pid == cut)
                    .map(|e| e.job)
                    .collect();
                (held.len() >= 4).then_some(held)
            }
        },
    )
    .await;
    ns.partition();
    let cut_at = now_us();
    let mut faults = Faults::default();
    faults.faulted_pids.insert(cut);
    let rescuer = procs.worker(&url, opts);
    let done = poll(
        "every job completed while the worker is cut off",
        Duration::from_secs(90),
        || async {
            let all = rows(&client, &[]).await;
            all.iter()
                .all(|r| r.state == JobState::Completed)
                .then_some(all)
        },
    )
    .await;
    let recovery = done
        .iter()
        .filter(|r| held.contains(&r.id))
        .filter_map(|r| Some(r.finalized_at?.timestamp_micros() - cut_at))
        .max()
        .unwrap_or(-1);
    for row in done.iter().filter(|r| held.contains(&r.id)) {
        assert!(
            row.rescue_count >= 1,
            "job {} held by the cut worker was not rescued: {row:?}",
            row.id
        );
    }
    ns.heal();
    let healed_at = now_us();
    let out = procs.proc(cut).out.clone();
    let (fenced, lost) = poll(
        "the healed worker's late writes to be refused",
        Duration::from_secs(90),
        || {
            let out = out.clone();
            async move { last_stats(&out).filter(|&(f, l)| f + l > 0) }
        },
    )
    .await;
    let noticed = (now_us() - healed_at) as f64 / 1e6;
    assert!(
        procs.stop(cut, Duration::from_secs(30)),
        "{}",
        procs.errors()
    );
    assert!(
        procs.stop(rescuer, Duration::from_secs(30)),
        "{}",
        procs.errors()
    );
    let after = rows(&client, &[]).await;
    for row in &after {
        let before = done
            .iter()
            .find(|r| r.id == row.id)
            .expect("no job appeared");
        assert_eq!(
            (row.state, row.lease_token),
            (before.state, before.lease_token),
            "job {}'s final row changed after the cut worker was healed",
            row.id
        );
    }
    let report = check(&after, &ids, &entries(&procs.ledgers()), &faults);
    println!(
        "faults: scenario=pg_partition held={} {report} cut_fenced={fenced} cut_leases_lost={lost} recovery={:.1}s healed_noticed={noticed:.1}s",
        held.len(),
        recovery as f64 / 1e6
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}
