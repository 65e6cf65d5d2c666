//! `backlog bench --scenario dashboard`: how fast the dashboard's and API's reads answer on a
//! big table (`--jobs`, e.g. 1,000,000): counts, lists with filters, a JSON-path search, the
//! queue table, the overview and its history. Requests go through the real router in-process
//! (no network) with the default options: the first request of each kind pays for the scans
//! (reported as "first"), later ones are served from the stale-while-revalidate caches while a
//! background refresh runs (the median).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::Request;
use backlog::{Client, InsertOpts};
use backlog_web::WebOptions;
use tower::ServiceExt;

use super::{Bench, Measurement};
use crate::percentiles::ms;

/// Requests measured, as the dashboard sends them.
const REQUESTS: &[(&str, &str)] = &[
    ("overview page", "/"),
    ("overview API (hour)", "/api/overview"),
    ("overview API (day)", "/api/overview?range=day"),
    ("jobs page, no filter", "/jobs"),
    (
        "jobs API, queue + state",
        "/api/jobs?queue=dash_b&state=available",
    ),
    ("jobs API, kind", "/api/jobs?kind=dash_rare"),
    (
        "jobs API, args JSON path",
        "/api/jobs?args.customer=c-17&limit=50",
    ),
    (
        "jobs API, page 100 deep",
        "/api/jobs?limit=50&before=__DEEP__",
    ),
    ("bulk count (capped)", "/api/jobs/count?queue=dash_a"),
    ("queues API", "/api/queues"),
    ("metrics", "/metrics"),
];

/// Rounds per request after the first (cold) one.
const ROUNDS: usize = 5;

async fn fill(client: &Client, jobs: usize) -> anyhow::Result<()> {
    let batch = 5_000;
    let mut done = 0;
    while done < jobs {
        let n = batch.min(jobs - done);
        let mut prepared = Vec::with_capacity(n);
        for i in done..done + n {
            let queue = ["dash_a", "dash_b", "dash_c"][i % 3];
            let kind = if i % 1000 == 0 {
                "dash_rare"
            } else {
                "dash_common"
            };
            let mut opts = InsertOpts::new().queue(queue);
            if i % 4 == 0 {
                opts = opts.run_after(Duration::from_secs(3600));
            }
            let args = serde_json::json!({"customer": format!("c-{}", i % 5000), "n": i});
            prepared.push(client.prepare_raw(kind, args, opts)?);
        }
        client.insert_prepared(prepared).await?;
        done += n;
    }
    Ok(())
}

pub(crate) async fn run(bench: &Bench) -> anyhow::Result<Vec<Measurement>> {
    let client = Client::from_arc(bench.db.storage.clone());
    let jobs = bench.args.jobs;
    let started = Instant::now();
    fill(&client, jobs).await.context("filling the table")?;
    eprintln!(
        "  {jobs} jobs inserted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let options = WebOptions {
        metrics: Some(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .build_recorder()
                .handle(),
        ),
        ..WebOptions::default()
    };
    let app = backlog_web::router(client, options)?;
    let deep = (jobs as i64 - 5_000).max(1).to_string();
    let mut rows = Vec::new();
    // What the caches hide: the scans themselves.
    let storage = bench.db.storage.clone();
    let t = Instant::now();
    storage.job_count_by_state().await?;
    let count_scan = t.elapsed();
    let t = Instant::now();
    storage.queue_list().await?;
    rows.push(
        Measurement::time("dashboard: count scans (uncached)", count_scan)
            .jobs(jobs as u64)
            .detail(format!(
                "job_count_by_state; queue_list {}; {jobs} jobs",
                ms(t.elapsed())
            )),
    );
    for (name, uri) in REQUESTS {
        let uri = uri.replace("__DEEP__", &deep);
        let mut times = Vec::with_capacity(ROUNDS + 1);
        for _ in 0..=ROUNDS {
            let t = Instant::now();
            let response = app
                .clone()
                .oneshot(Request::get(&uri).body(Body::empty())?)
                .await?;
            let status = response.status();
            axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            if !status.is_success() {
                bail!("{uri} answered {status}");
            }
            times.push(t.elapsed());
        }
        let cold = times[0];
        let mut warm = times[1..].to_vec();
        warm.sort();
        let median = warm[warm.len() / 2];
        let worst = *warm.last().unwrap_or(&median);
        rows.push(
            Measurement::time(format!("dashboard: {name}"), median)
                .jobs(jobs as u64)
                .setting("first_ms", cold.as_secs_f64() * 1e3)
                .setting("worst_ms", worst.as_secs_f64() * 1e3)
                .detail(format!(
                    "median of {ROUNDS}, first {}, worst {}, {jobs} jobs{}",
                    ms(cold),
                    ms(worst),
                    if worst.max(cold) > Duration::from_millis(500) {
                        " — OVER 500 ms"
                    } else {
                        ""
                    }
                )),
        );
    }
    Ok(rows)
}
