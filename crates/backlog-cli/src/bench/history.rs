//! `--scenario history`: the issue's target "the drain with 10,000,000 finished jobs in the table
//! and a 1,000,000-job backlog, within 20 % of the empty-table figure". First the bulk enqueue
//! of a backlog of `--jobs` jobs and its drain on an empty table, at each concurrency; then the
//! job table is filled with `--history-jobs` completed jobs by set-based SQL (PostgreSQL:
//! `generate_series`, then `VACUUM (ANALYZE)` as autovacuum would; SQLite: a recursive CTE), in
//! chunks of a million rows, checkpointed (untimed), and the same enqueue and drains run again
//! beside them.
//!
//! Then the rest of the targets' table, "with 10,000,000 finished jobs in the table and a
//! 1,000,000-job backlog": single enqueue, the steady state and the latency at each `--rates`,
//! on the empty table first and then beside the history and a backlog of `--jobs` jobs waiting
//! in [`WAITING_QUEUE`], which no runner works (a backlog in the measured queue would queue the
//! latency's jobs behind it). On the empty table each starts on an emptied one; beside the
//! history, each starts after the bench queue's waiting jobs are deleted (so that one's
//! leftovers do not run in the next) and, on PostgreSQL, after the same untimed
//! `VACUUM (ANALYZE)` as the drains; on PostgreSQL each starts after an untimed `CHECKPOINT`
//! (see [`prepare`]).
//!
//! The history is written as real successes leave it (attempt 1, `finalized_at` within the last
//! 23 hours so the cleaner's default one-day retention keeps it all) in the bench queue itself.
//! Jobs drained at one concurrency stay, completed, for the next: the history grows by `--jobs`
//! per drain.
//!
//! On PostgreSQL every drain, on the empty table as beside the history, starts after an untimed
//! `VACUUM (ANALYZE)` of the job table, standing in for autovacuum (which would analyze a table
//! that just grew by a million rows): otherwise the empty-table drains would plan without
//! statistics while the history's had fresh ones, and the comparison would measure that.

use std::time::{Duration, Instant};

use backlog::postgres::bench as pg_bench;
use backlog::sqlite::bench::BenchConnection;
use backlog::Client;

use backlog::storage::{JobFilter, WAITING_STATES};

use super::scenarios::{self, DEFAULT_CONCURRENCY, DRAIN_CONCURRENCIES};
use super::{latency, Bench, Measurement};
use crate::database::Backend;

/// The queue of the backlog that waits beside the history while single enqueue, the steady state
/// and the latency are measured: no runner works it.
pub(crate) const WAITING_QUEUE: &str = "bench_waiting";

/// Rows per fill statement (and transaction).
const CHUNK: u64 = 1_000_000;

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let jobs = bench.args.jobs;
    let history = bench.args.history_jobs;
    let concurrencies = bench.concurrencies(DRAIN_CONCURRENCIES);
    let client = Client::from_arc(bench.db.storage.clone());
    let mut measured = Vec::new();

    let mut empty = Vec::new();
    for &concurrency in &concurrencies {
        bench.reset().await?;
        let enqueue = enqueue(bench, &client, "bulk enqueue of the backlog, empty table").await?;
        analyze(bench).await?;
        let drain = scenarios::drain_queued(bench, concurrency, jobs as u64).await?;
        let drain = Measurement {
            name: "drain, empty table".into(),
            ..drain
        };
        empty.push((enqueue.value, drain.value));
        measured.extend([enqueue, drain]);
    }

    let empty_others = others(bench, Table::Empty).await?;
    measured.extend(empty_others.iter().map(|m| Measurement {
        name: format!("{}, empty table", m.name),
        ..m.clone()
    }));

    bench.reset().await?;
    let started = Instant::now();
    let vacuum = fill(bench, history).await?;
    let took = started.elapsed();
    checkpoint(bench).await?;
    eprintln!(
        "  {history} finished jobs written in {:.1} s{}",
        took.as_secs_f64(),
        vacuum.map_or(String::new(), |v| format!(
            " (of which VACUUM ANALYZE {:.1} s)",
            v.as_secs_f64()
        ))
    );
    let mut m = Measurement::rate("history fill", history, took).detail(format!(
        "{history} completed jobs by set-based SQL in chunks of {CHUNK}{}",
        vacuum.map_or(String::new(), |v| format!(
            ", then VACUUM (ANALYZE) {:.1} s",
            v.as_secs_f64()
        ))
    ));
    if let Some(v) = vacuum {
        m = m.setting("vacuum_s", v.as_secs_f64());
    }
    measured.push(m.setting("chunk", CHUNK));

    for (&concurrency, &(empty_enqueue, empty_drain)) in concurrencies.iter().zip(&empty) {
        let name = format!("bulk enqueue of the backlog, {history} finished");
        let enqueue = enqueue(bench, &client, &name).await?;
        measured.push(enqueue.against("the empty table", empty_enqueue));
        analyze(bench).await?;
        let drain = scenarios::drain_queued(bench, concurrency, jobs as u64).await?;
        let drain = Measurement {
            name: format!("drain, {history} finished jobs in the table"),
            ..drain
        };
        measured.push(
            drain
                .setting("history_jobs", history)
                .against("the empty table", empty_drain),
        );
    }

    wait(bench, &client, jobs).await?;
    for (m, empty) in others(bench, Table::AsItIs)
        .await?
        .into_iter()
        .zip(&empty_others)
    {
        let m = Measurement {
            name: format!("{}, {history} finished and {jobs} waiting", m.name),
            ..m
        };
        measured.push(
            m.setting("history_jobs", history)
                .against("the empty table", empty.value),
        );
    }
    Ok(measured)
}

/// Where [`others`] measures.
#[derive(Clone, Copy)]
enum Table {
    /// On an emptied table each time.
    Empty,
    /// Beside the history: the bench queue's waiting jobs deleted and the table vacuumed.
    AsItIs,
}

/// Single enqueue, the steady state and the latency at each rate (at each `--concurrency`,
/// default 1,000), each after [`prepare`].
async fn others(bench: &Bench, table: Table) -> anyhow::Result<Vec<Measurement>> {
    prepare(bench, table).await?;
    let mut measured = scenarios::single(bench).await?;
    for concurrency in bench.concurrencies(DEFAULT_CONCURRENCY) {
        prepare(bench, table).await?;
        measured.push(scenarios::steady_at(bench, concurrency).await?);
        for &per_sec in &bench.args.rates {
            prepare(bench, table).await?;
            measured.push(latency::measure_at_rate(bench, concurrency, per_sec).await?);
        }
    }
    Ok(measured)
}

/// Untimed: empties the table, or deletes the bench queue's waiting jobs and vacuums it; then,
/// on PostgreSQL, a `CHECKPOINT`. Without it the measurements beside the history ran inside the
/// checkpoints that the bench's own earlier gigabytes of WAL forced every 10–15 s on a default
/// server (`max_wal_size` 1 GB), each ending in a sync of up to 0.3 s: the p99 of the latency
/// at 1,000 jobs/s read 68–77 ms there against 2.6–2.9 ms on the empty table, p50 unchanged.
async fn prepare(bench: &Bench, table: Table) -> anyhow::Result<()> {
    match table {
        Table::Empty => bench.reset().await?,
        Table::AsItIs => clear(bench).await?,
    }
    if let Backend::Postgres(pg) = &bench.db.backend {
        if let Err(e) = pg_bench::history_checkpoint(pg).await {
            eprintln!("  no CHECKPOINT before the measurement ({e})");
        }
    }
    Ok(())
}

/// Deletes the bench queue's waiting jobs and vacuums the table (on PostgreSQL).
async fn clear(bench: &Bench) -> anyhow::Result<()> {
    bench
        .db
        .storage
        .job_delete_by_filter(JobFilter {
            queue: Some("bench".into()),
            states: WAITING_STATES.to_vec(),
            ..JobFilter::default()
        })
        .await?;
    analyze(bench).await
}

/// Enqueues `jobs` jobs into [`WAITING_QUEUE`] (untimed): the backlog beside the history.
async fn wait(bench: &Bench, client: &Client, jobs: usize) -> anyhow::Result<()> {
    let opts = || backlog::InsertOpts::new().queue(WAITING_QUEUE);
    scenarios::enqueue_bulk_with(client, jobs, bench.args.batch.max(1), opts).await?;
    analyze(bench).await
}

/// On PostgreSQL, `VACUUM (ANALYZE)` of the job table (see the module docs).
async fn analyze(bench: &Bench) -> anyhow::Result<()> {
    if let Backend::Postgres(pg) = &bench.db.backend {
        pg_bench::history_vacuum(pg).await?;
    }
    Ok(())
}

/// The backlog: `--jobs` jobs in batches of `--batch`, timed.
async fn enqueue(bench: &Bench, client: &Client, name: &str) -> anyhow::Result<Measurement> {
    let (jobs, batch) = (bench.args.jobs, bench.args.batch.max(1));
    let started = Instant::now();
    scenarios::enqueue_bulk(client, jobs, batch).await?;
    Ok(Measurement::rate(name, jobs as u64, started.elapsed())
        .setting("batch", batch)
        .detail(format!("{jobs} jobs in batches of {batch}, one producer")))
}

/// After the fill, untimed: a checkpoint, as the day the history stands for would have had many
/// (the fill writes gigabytes of WAL in a minute; without it the first measurements beside the
/// history pay for that). On PostgreSQL `CHECKPOINT` needs a superuser or `pg_checkpoint`: without
/// either the bench says so and goes on.
async fn checkpoint(bench: &Bench) -> anyhow::Result<()> {
    let started = Instant::now();
    match &bench.db.backend {
        Backend::Postgres(pg) => {
            if let Err(e) = pg_bench::history_checkpoint(pg).await {
                eprintln!(
                    "  no CHECKPOINT after the fill ({e}): the first measurements beside the history pay for it"
                );
                return Ok(());
            }
        }
        Backend::Sqlite(sqlite) => {
            let path = sqlite.path().to_owned();
            tokio::task::spawn_blocking(move || BenchConnection::open(&path)?.history_checkpoint())
                .await??;
        }
    }
    eprintln!(
        "  checkpointed in {:.1} s (not counted)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes `history` completed jobs; returns how long the PostgreSQL vacuum took.
async fn fill(bench: &Bench, history: u64) -> anyhow::Result<Option<Duration>> {
    match &bench.db.backend {
        Backend::Postgres(pg) => {
            let mut done = 0;
            while done < history {
                let rows = CHUNK.min(history - done);
                pg_bench::history_fill(pg, rows, done, history).await?;
                done += rows;
                eprintln!("  {done} of {history} finished jobs written");
            }
            let started = Instant::now();
            pg_bench::history_vacuum(pg).await?;
            Ok(Some(started.elapsed()))
        }
        Backend::Sqlite(sqlite) => {
            let path = sqlite.path().to_owned();
            tokio::task::spawn_blocking(move || {
                let conn = BenchConnection::open(&path)?;
                let mut done = 0;
                while done < history {
                    let rows = CHUNK.min(history - done);
                    conn.history_fill(rows, done, history)?;
                    done += rows;
                    eprintln!("  {done} of {history} finished jobs written");
                }
                anyhow::Ok(None)
            })
            .await?
        }
    }
}
