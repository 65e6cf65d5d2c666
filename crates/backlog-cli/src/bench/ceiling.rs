//! `--scenario ceiling`: what the database itself does on this machine, measured the same way
//! every run with raw SQL and durable commits on a scratch table shaped like the job table
//! (`bench_ceiling_job`, dropped afterwards), then Backlog's own bulk enqueue and drain beside
//! it, so the gap is visible.
//!
//! Each figure covers `--jobs` jobs on a freshly created scratch table (after one untimed fill,
//! so a fresh file's growth counts against none of them):
//! - **insert**: multi-row inserts of 1,000 rows (PostgreSQL: one `INSERT … SELECT FROM
//!   unnest(…)` statement; SQLite: 1,000 rows in one transaction, in multi-row statements of up
//!   to 64 rows, as Backlog's own insert);
//! - **claim + delete**: burn-down of a full table by claims of 100 and of 1,000 jobs that delete
//!   what they claim (`DELETE … WHERE id IN (SELECT … ORDER BY … LIMIT n FOR UPDATE SKIP
//!   LOCKED)`), the least a claim can write;
//! - **claim + complete**: the same burn-down with a claim that marks the jobs running and a
//!   second statement that completes them, which is what a drain does;
//! - **enqueue + claim + complete**: cycles of insert, claim and complete of 100 and of 1,000
//!   jobs, which is what a steady state does.
//!
//! On PostgreSQL `--ceiling-clients` connections (default 4) work at once; on SQLite one
//! connection does (one process, one writer), in WAL mode with `synchronous=FULL`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::postgres::bench as pg_bench;
use backlog::postgres::PgStorage;
use backlog::sqlite::bench::BenchConnection;

use super::scenarios::{self, DRAIN_CONCURRENCIES};
use super::{Bench, Measurement};
use crate::database::Backend;

/// Rows per multi-row insert.
const INSERT_ROWS: usize = 1_000;
/// Jobs per claim of the burn-downs and cycles.
const CLAIMS: [usize; 2] = [100, 1_000];

const INSERT: &str = "ceiling: insert ×1000";
const CLAIM_COMPLETE_1000: &str = "ceiling: claim + complete ×1000";

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let jobs = bench.args.jobs;
    let clients = bench.args.ceiling_clients.max(1);
    let mut measured = match &bench.db.backend {
        Backend::Postgres(pg) => {
            let measured = postgres(pg, jobs, clients).await;
            pg_bench::ceiling_drop(pg).await?;
            measured?
        }
        Backend::Sqlite(sqlite) => sqlite_ceiling(sqlite.path().to_owned(), jobs).await?,
    };
    let clients = match bench.db.backend {
        Backend::Postgres(_) => clients,
        Backend::Sqlite(_) => 1,
    };
    for m in &mut measured {
        m.settings.insert("clients", clients.into());
    }
    let ceiling = |name: &str| {
        measured
            .iter()
            .find(|m| m.name == name)
            .map_or(0.0, |m| m.value)
    };
    let (insert, drain) = (ceiling(INSERT), ceiling(CLAIM_COMPLETE_1000));

    // Backlog beside it: the same jobs, through the client and the runner.
    bench.reset().await?;
    let bulk = scenarios::bulk_with(bench, clients, INSERT_ROWS).await?;
    measured.push(bulk.against("the insert ceiling", insert));
    for concurrency in bench.concurrencies(DRAIN_CONCURRENCIES) {
        bench.reset().await?;
        let client = backlog::Client::from_arc(bench.db.storage.clone());
        scenarios::enqueue_bulk(&client, jobs, 5_000).await?;
        let m = scenarios::drain_queued(bench, concurrency, jobs as u64).await?;
        measured.push(m.against("the claim + complete ×1000 ceiling", drain));
    }
    Ok(measured)
}

/// Runs `work` in a loop on each of `clients` tasks at once, until it returns `Ok(0)` there;
/// returns the elapsed time and the total of what it returned.
async fn parallel<F, Fut>(clients: usize, work: F) -> anyhow::Result<(Duration, u64)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let work = work.clone();
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    match work().await? {
                        0 => return anyhow::Ok(total),
                        n => total += n,
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((started.elapsed(), total))
}

/// A shared countdown of work units; `take` is false once none is left.
#[derive(Clone)]
struct Countdown(Arc<AtomicU64>);

impl Countdown {
    fn new(n: u64) -> Countdown {
        Countdown(Arc::new(AtomicU64::new(n)))
    }

    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Fills the scratch table with `jobs` jobs in inserts of [`INSERT_ROWS`] from `clients`
/// connections; returns the time taken and the rows inserted.
async fn pg_fill(pg: &PgStorage, jobs: usize, clients: usize) -> anyhow::Result<(Duration, u64)> {
    let statements = Countdown::new(jobs.div_ceil(INSERT_ROWS) as u64);
    let pg = pg.clone();
    parallel(clients, move || {
        let (pg, statements) = (pg.clone(), statements.clone());
        async move {
            if !statements.take() {
                return Ok(0);
            }
            Ok(pg_bench::ceiling_insert(&pg, INSERT_ROWS).await?)
        }
    })
    .await
}

async fn postgres(pg: &PgStorage, jobs: usize, clients: usize) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    // Untimed first: the first writes to a fresh table (file growth, cold caches) would count
    // against whichever figure came first.
    pg_bench::ceiling_create(pg).await?;
    pg_fill(pg, jobs, clients).await?;
    pg_bench::ceiling_create(pg).await?;
    let (took, rows) = pg_fill(pg, jobs, clients).await?;
    measured.push(
        Measurement::rate(INSERT, rows, took)
            .setting("batch", INSERT_ROWS)
            .detail(format!(
                "INSERT … SELECT FROM unnest(…) of {INSERT_ROWS} rows, {clients} connections"
            )),
    );
    for claim in CLAIMS {
        pg_bench::ceiling_create(pg).await?;
        let (_, rows) = pg_fill(pg, jobs, clients).await?;
        let shared = pg.clone();
        let (took, deleted) = parallel(clients, move || {
            let pg = shared.clone();
            async move { Ok(pg_bench::ceiling_claim_delete(&pg, claim).await?) }
        })
        .await?;
        anyhow::ensure!(deleted == rows, "deleted {deleted} of {rows} jobs");
        measured.push(claim_delete(claim, rows, took, " FOR UPDATE SKIP LOCKED"));
    }
    for claim in CLAIMS {
        pg_bench::ceiling_create(pg).await?;
        let (_, rows) = pg_fill(pg, jobs, clients).await?;
        let shared = pg.clone();
        let (took, done) = parallel(clients, move || {
            let pg = shared.clone();
            async move {
                let ids = pg_bench::ceiling_claim(&pg, claim).await?;
                Ok(pg_bench::ceiling_complete(&pg, &ids).await?)
            }
        })
        .await?;
        anyhow::ensure!(done == rows, "completed {done} of {rows} jobs");
        measured.push(claim_complete(claim, rows, took, " (claims SKIP LOCKED)"));
    }
    for batch in CLAIMS {
        pg_bench::ceiling_create(pg).await?;
        let cycles = Countdown::new(jobs.div_ceil(batch) as u64);
        let completed = Arc::new(AtomicU64::new(0));
        let (shared, counted) = (pg.clone(), completed.clone());
        let (took, _) = parallel(clients, move || {
            let (pg, cycles, completed) = (shared.clone(), cycles.clone(), counted.clone());
            async move {
                if !cycles.take() {
                    return Ok(0);
                }
                pg_bench::ceiling_insert(&pg, batch).await?;
                let ids = pg_bench::ceiling_claim(&pg, batch).await?;
                let done = pg_bench::ceiling_complete(&pg, &ids).await?;
                completed.fetch_add(done, Ordering::Relaxed);
                Ok(1)
            }
        })
        .await?;
        let done = completed.load(Ordering::Relaxed);
        measured.push(cycle(batch, done, took));
    }
    Ok(measured)
}

/// The SQLite ceiling, on a connection of its own in a blocking thread.
async fn sqlite_ceiling(path: PathBuf, jobs: usize) -> anyhow::Result<Vec<Measurement>> {
    tokio::task::spawn_blocking(move || {
        let mut conn = BenchConnection::open(&path)?;
        let measured = sqlite_measure(&mut conn, jobs);
        conn.ceiling_drop()?;
        measured
    })
    .await?
}

fn sqlite_fill(conn: &mut BenchConnection, jobs: usize) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut rows = 0;
    while rows < jobs {
        conn.ceiling_insert(INSERT_ROWS)?;
        rows += INSERT_ROWS;
    }
    Ok((started.elapsed(), rows as u64))
}

fn sqlite_measure(conn: &mut BenchConnection, jobs: usize) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = Vec::new();
    // Untimed first: a fresh file's growth would count against whichever figure came first
    // (the dropped table's pages are reused afterwards).
    conn.ceiling_create()?;
    sqlite_fill(conn, jobs)?;
    conn.ceiling_create()?;
    let (took, rows) = sqlite_fill(conn, jobs)?;
    measured.push(
        Measurement::rate(INSERT, rows, took)
            .setting("batch", INSERT_ROWS)
            .detail(format!(
                "{INSERT_ROWS} rows per transaction in statements of {} rows, WAL, \
                 synchronous=FULL",
                backlog::sqlite::bench::CEILING_INSERT_ROWS
            )),
    );
    for claim in CLAIMS {
        conn.ceiling_create()?;
        let (_, rows) = sqlite_fill(conn, jobs)?;
        let started = Instant::now();
        let mut deleted = 0;
        loop {
            let n = conn.ceiling_claim_delete(claim)?;
            if n == 0 {
                break;
            }
            deleted += n as u64;
        }
        let took = started.elapsed();
        anyhow::ensure!(deleted == rows, "deleted {deleted} of {rows} jobs");
        measured.push(claim_delete(claim, rows, took, ""));
    }
    for claim in CLAIMS {
        conn.ceiling_create()?;
        let (_, rows) = sqlite_fill(conn, jobs)?;
        let started = Instant::now();
        let mut done = 0;
        loop {
            let ids = conn.ceiling_claim(claim)?;
            if ids.is_empty() {
                break;
            }
            conn.ceiling_complete(&ids)?;
            done += ids.len() as u64;
        }
        let took = started.elapsed();
        anyhow::ensure!(done == rows, "completed {done} of {rows} jobs");
        measured.push(claim_complete(claim, rows, took, " in one transaction"));
    }
    for batch in CLAIMS {
        conn.ceiling_create()?;
        let started = Instant::now();
        let mut done = 0;
        for _ in 0..jobs.div_ceil(batch) {
            conn.ceiling_insert(batch)?;
            let ids = conn.ceiling_claim(batch)?;
            conn.ceiling_complete(&ids)?;
            done += ids.len() as u64;
        }
        let took = started.elapsed();
        measured.push(cycle(batch, done, took));
    }
    Ok(measured)
}

/// The claim + delete figure of a burn-down of `rows` jobs by claims of `claim`; `locking` is
/// the claim's locking clause as shown.
fn claim_delete(claim: usize, rows: u64, took: Duration, locking: &str) -> Measurement {
    Measurement::rate(format!("ceiling: claim + delete ×{claim}"), rows, took)
        .setting("batch", claim)
        .detail(format!(
            "burn-down of {rows} jobs: DELETE … WHERE id IN (SELECT …{locking} LIMIT {claim})"
        ))
}

/// The claim + complete figure of a burn-down of `rows` jobs; `note` ends its description.
fn claim_complete(claim: usize, rows: u64, took: Duration, note: &str) -> Measurement {
    Measurement::rate(format!("ceiling: claim + complete ×{claim}"), rows, took)
        .setting("batch", claim)
        .detail(format!(
            "burn-down of {rows} jobs: claim {claim}, then complete them{note}"
        ))
}

/// The enqueue + claim + complete figure of cycles of `batch` jobs.
fn cycle(batch: usize, done: u64, took: Duration) -> Measurement {
    Measurement::rate(
        format!("ceiling: enqueue + claim + complete ×{batch}"),
        done,
        took,
    )
    .setting("batch", batch)
    .detail(format!(
        "cycles of insert {batch}, claim {batch}, complete them: 3 durable commits"
    ))
}
