//! PostgreSQL at `max_connections`: while producers and workers run, other clients take every
//! connection slot a non-superuser may use and the Backlog processes' connections are cut.
//! Enqueues are refused with PostgreSQL's "too many clients" reason (and retried), workers
//! report failing writes; once the slots are freed, the same processes (never restarted)
//! finish the work with nothing lost.

use std::time::Duration;

use backlog::JobState;
use backlog_faults::check::{check, Faults};
use backlog_faults::ledger::now_us;

use crate::cluster::PgCluster;
use crate::procs::{Procs, WorkerOpts};
use crate::{acked, entries, long, open, poll, refusals, rows, Scratch, SERIAL};

/// The backend pids of `hogs`.
async fn hog_pids(hogs: &[tokio_postgres::Client]) -> Vec<i32> {
    let mut pids = Vec::new();
    for hog in hogs {
        let row = hog.query_one("select pg_backend_pid()", &[]).await.unwrap();
        pids.push(row.get(0));
    }
    pids
}

/// Connects to `url` (a hog or the control connection); the error if the server refuses.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "process-level fault suite: run scripts/faults"]
async fn postgres_max_connections_exhausted() {
    let _serial = SERIAL.lock().await;
    let (jobs, hold) = if long() {
        (1500, Duration::from_secs(20))
    } else {
        (300, Duration::from_secs(4))
    };
    // 20 slots, 3 of them reserved for superusers: the control connection always gets in.
    let cluster =
        PgCluster::start_with(&["max_connections=20", "superuser_reserved_connections=3"]);
    let control = connect(&cluster.url()).await.expect("control connection");
    for statement in [
        "create role backlog login",
        "create database jobs owner backlog",
    ] {
        control
            .batch_execute(statement)
            .await
            .expect("create the Backlog role and database");
    }
    let url = cluster.url_as("backlog", "jobs");
    let scratch = Scratch::new("maxconn");
    let client = open(&url).await;
    let opts = WorkerOpts {
        lease_ms: 10_000,
        leader_ttl_ms: 2000,
        concurrency: 4,
    };
    let mut procs = Procs::new(&scratch.0);
    let producer = procs.producer(&url, jobs, 20);
    procs.worker(&url, opts);
    procs.worker(&url, opts);
    poll(
        "enqueues before the slots are taken",
        Duration::from_secs(60),
        || async { (acked(&procs.acked_files()).len() >= jobs as usize / 4).then_some(()) },
    )
    .await;
    drop(client);

    // Freeze the Backlog processes, cut their connections and wait until each of their
    // backends has exited, then take every free slot. Frozen, the processes cannot take back a
    // slot while it is being freed (a terminated backend leaves pg_stat_activity before it
    // gives its slot back, and a process retrying its connection would win that slot).
    let from = now_us();
    let frozen = procs.running();
    for &pid in &frozen {
        procs.signal(pid, "STOP");
    }
    // Cut every client connection but the control connection and the hogs, wait for those
    // backends to exit, take the slots they freed; again until no other connection is left
    // (one of a frozen process's connection attempts may still have been starting).
    let mut hogs: Vec<tokio_postgres::Client> = Vec::new();
    let mut refusal = String::new();
    let mut cut_total = 0;
    for round in 0.. {
        assert!(
            round < 10,
            "could not take every slot from the Backlog processes"
        );
        let cut: i64 = control
            .query_one(
                "select count(*) filter (where pg_terminate_backend(pid, 20000)) \
                 from pg_stat_activity \
                 where backend_type = 'client backend' and pid <> pg_backend_pid() \
                   and pid <> all($1)",
                &[&hog_pids(&hogs).await],
            )
            .await
            .expect("terminate the Backlog processes' connections")
            .get(0);
        cut_total += cut;
        if cut == 0 && !refusal.is_empty() {
            break;
        }
        refusal = loop {
            match connect(&url).await {
                Ok(hog) => {
                    hogs.push(hog);
                    assert!(hogs.len() <= 20, "more connections than max_connections");
                }
                Err(e) => {
                    break e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
                }
            }
        };
    }
    assert!(
        cut_total > 0,
        "the Backlog processes held no connection to cut"
    );
    for &pid in &frozen {
        procs.signal(pid, "CONT");
    }
    assert!(
        refusal.contains("reserved") || refusal.contains("too many"),
        "{refusal}"
    );
    let acked_before = acked(&procs.acked_files()).len();
    // While the slots are held, the producer's enqueues are refused (and retried).
    poll("a refused enqueue", Duration::from_secs(30), || {
        let out = procs.proc(producer).out.clone();
        async move { (!refusals(&out).is_empty()).then_some(()) }
    })
    .await;
    // The fault lasts `hold`; the producer must not get anything acknowledged meanwhile.
    tokio::time::sleep(hold).await;
    assert_eq!(
        acked(&procs.acked_files()).len(),
        acked_before,
        "an enqueue was acknowledged with every slot taken"
    );
    drop(hogs);
    let to = now_us();

    assert!(
        procs.wait_exit(producer, Duration::from_secs(180)),
        "the producer failed instead of recovering: {}",
        procs.errors()
    );
    let client = open(&url).await;
    let done = poll("every job completed", Duration::from_secs(180), || async {
        let all = rows(&client, &[]).await;
        (all.len() == jobs as usize && all.iter().all(|r| r.state == JobState::Completed))
            .then_some(all)
    })
    .await;
    let refused = refusals(&procs.proc(producer).out);
    for message in &refused {
        assert!(
            message.contains("connect")
                || message.contains("too many")
                || message.contains("reserved"),
            "a refusal does not say the database could not be reached: `{message}`"
        );
    }
    let says_why = |m: &String| m.contains("reserved") || m.contains("too many");
    let slot_refusal = refused.iter().find(|m| says_why(m));
    assert!(
        slot_refusal.is_some(),
        "no refusal names the exhausted connection slots: {refused:#?}"
    );
    let recovery = done
        .iter()
        .filter_map(|r| r.finalized_at.map(|t| t.timestamp_micros() - to))
        .filter(|&d| d >= 0)
        .min()
        .unwrap_or(-1);
    let mut faults = Faults::default();
    faults.outages.push((from, to));
    let report = check(
        &done,
        &acked(&procs.acked_files()),
        &entries(&procs.ledgers()),
        &faults,
    );
    println!(
        "faults: scenario=pg_max_connections held={:.1}s refused={} slots_refusal={:?} recovery={:.1}s {report}",
        (to - from) as f64 / 1e6,
        refused.len(),
        slot_refusal.map(String::as_str).unwrap_or(""),
        recovery as f64 / 1e6
    );
    assert!(report.is_ok(), "{:#?}\n{}", report.problems, procs.errors());
}
