//! `/api/overview`, `/api/workers`, health and `/metrics`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use backlog_storage::WorkerListParams;
use backlog_types::JobState;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::queues;
use crate::state::AppState;
use crate::ApiError;

/// Workers whose last heartbeat is older than this are not listed (heartbeats come every
/// third of the lease: 10 s by default).
pub(crate) const WORKER_STALE: Duration = Duration::minutes(2);

/// Jobs finalized in one bucket of the history chart.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Point {
    pub(crate) at: String,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
}

/// `range=hour` (per minute, the default) or `range=day` (per hour).
#[derive(Debug, Deserialize)]
pub(crate) struct RangeQuery {
    #[serde(default)]
    range: Option<String>,
}

/// Per-minute (hour) or per-hour (day) counts of finalized jobs, oldest first, with empty
/// buckets filled in.
pub(crate) async fn history(state: &AppState, range: &str) -> Result<Vec<Point>, ApiError> {
    let (span, step) = match range {
        "hour" => (Duration::hours(1), Duration::minutes(1)),
        "day" => (Duration::days(1), Duration::hours(1)),
        other => {
            return Err(ApiError::BadRequest(format!(
                "range={other:?} is not a history range: use hour or day"
            )))
        }
    };
    let now = Utc::now();
    let start: DateTime<Utc> = (now - span).duration_trunc(step).unwrap_or(now - span);
    // The cached buckets may start a little before `start`; older ones are dropped below.
    let buckets = state.throughput(range == "day", start).await?;
    let mut points: BTreeMap<DateTime<Utc>, Point> = BTreeMap::new();
    let mut t = start;
    while t <= now {
        points.insert(
            t,
            Point {
                at: t.to_rfc3339(),
                ..Default::default()
            },
        );
        t += step;
    }
    for b in buckets.into_iter().filter(|b| b.minute >= start) {
        let key = b.minute.duration_trunc(step).unwrap_or(b.minute);
        let point = points.entry(key).or_insert_with(|| Point {
            at: key.to_rfc3339(),
            ..Default::default()
        });
        match b.state {
            JobState::Completed => point.completed += b.count,
            JobState::Discarded => point.failed += b.count,
            _ => point.cancelled += b.count,
        }
    }
    Ok(points.into_values().collect())
}

/// Jobs per state over every queue.
pub(crate) async fn totals(state: &AppState) -> Result<BTreeMap<&'static str, u64>, ApiError> {
    let mut totals: BTreeMap<&'static str, u64> =
        JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for c in state.counts().await? {
        *totals.entry(c.state.as_str()).or_default() += c.count;
    }
    Ok(totals)
}

/// `GET /api/overview?range=hour|day`.
pub(crate) async fn overview(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    let range = q.range.as_deref().unwrap_or("hour");
    let history = history(&state, range).await?;
    Ok(Json(json!({
        "counts": totals(&state).await?,
        "queues": queues::views(&state).await?,
        "history": history,
        "range": range,
        "at": Utc::now().to_rfc3339(),
    })))
}

/// A worker as shown.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerView {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: i32,
    pub(crate) origin: String,
    pub(crate) kinds: Vec<String>,
    pub(crate) queues: Vec<(String, u32)>,
    pub(crate) capacity: u32,
    pub(crate) in_flight: u32,
    pub(crate) started_at: String,
    pub(crate) heartbeat_at: String,
    pub(crate) heartbeat_age_secs: f64,
}

/// Live workers (heard from within [`WORKER_STALE`]).
pub(crate) async fn worker_views(state: &AppState) -> Result<Vec<WorkerView>, ApiError> {
    let now = Utc::now();
    let rows = state
        .client
        .storage()
        .worker_list(WorkerListParams {
            seen_since: now - WORKER_STALE,
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|w| WorkerView {
            heartbeat_age_secs: (now - w.heartbeat_at).num_milliseconds().max(0) as f64 / 1000.0,
            started_at: w.started_at.to_rfc3339(),
            heartbeat_at: w.heartbeat_at.to_rfc3339(),
            id: w.report.id,
            host: w.report.host,
            pid: w.report.pid,
            origin: w.report.origin,
            kinds: w.report.kinds,
            queues: w.report.queues,
            capacity: w.report.capacity,
            in_flight: w.report.in_flight,
        })
        .collect())
}

/// `GET /api/workers`.
pub(crate) async fn workers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"workers": worker_views(&state).await?})))
}

/// `POST /api/workers/{id}/{quiet|terminate}`: tells a remote worker connected to this
/// process's ZeroMQ server to finish what it holds (`quiet`) or to release it and leave
/// (`terminate`). In-process runners are stopped by their application, not from here.
pub(crate) async fn command(
    State(state): State<AppState>,
    axum::extract::Path((id, command)): axum::extract::Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let command = match command.as_str() {
        "quiet" => crate::WorkerCommand::Quiet,
        "terminate" => crate::WorkerCommand::Terminate,
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown worker command `{other}`: use quiet or terminate"
            )))
        }
    };
    let Some(control) = &state.options.worker_control else {
        return Err(ApiError::NotFound(
            "this process runs no ZeroMQ server, so it has no remote workers to command (start `backlog serve --zmq ...`)".into(),
        ));
    };
    let told = control(id.clone(), command).await;
    if told == 0 {
        return Err(ApiError::NotFound(format!(
            "no remote worker `{id}` is connected to this server (in-process runners and workers of other servers cannot be commanded here)"
        )));
    }
    Ok(Json(json!({"worker": id, "told": told})))
}

/// `GET /health/live`: the process answers.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /health/ready`: the database answers.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.client.storage().now().await {
        Ok(_) => Json(json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "backlog web: readiness check failed");
            let body = json!({"status": "unavailable", "error": {"code": "database_unavailable", "message": e.to_string()}});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /metrics`: refreshes the gauges read from the database (jobs per queue of the
/// unfinished states, oldest available job age, live workers) and renders everything
/// recorded, in Prometheus text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = state.options.metrics.clone() else {
        return Err(ApiError::NotFound(
            "no Prometheus recorder is installed: pass WebOptions::metrics".into(),
        ));
    };
    // The unfinished states of every queue seen so far, so that a state or a queue whose jobs
    // are gone reads 0. Finished jobs are not counted: that would scan the whole history on
    // every scrape; their rates are the outcome counters.
    let counts = state.unfinished().await?;
    {
        let mut queues = DEPTH_QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        queues.extend(counts.iter().map(|c| c.queue.clone()));
        for queue in queues.iter() {
            for s in UNFINISHED {
                let n = counts
                    .iter()
                    .find(|c| &c.queue == queue && c.state == s)
                    .map_or(0, |c| c.count);
                metrics::gauge!(backlog::telemetry::QUEUE_DEPTH, "queue" => queue.clone(), "state" => s.as_str())
                    .set(n as f64);
            }
        }
    }
    let now = Utc::now();
    for l in state.client.storage().queue_latency().await? {
        let age = (now - l.oldest_available_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!(OLDEST_AGE, "queue" => l.queue).set(age);
    }
    let workers = worker_views(&state).await?;
    let mut by_origin: BTreeMap<String, f64> = BTreeMap::new();
    by_origin.insert("in_process".into(), 0.0);
    for w in &workers {
        *by_origin.entry(w.origin.clone()).or_default() += 1.0;
    }
    for (origin, n) in by_origin {
        metrics::gauge!(WORKERS, "origin" => origin).set(n);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}

/// Queues whose depth a scrape has set in this process (the recorder is process-wide), so that a
/// queue with nothing left unfinished reads 0 instead of its last count.
static DEPTH_QUEUES: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The states `backlog_queue_depth` counts.
const UNFINISHED: [JobState; 4] = [
    JobState::Available,
    JobState::Scheduled,
    JobState::Running,
    JobState::Retryable,
];

/// Gauge: seconds since the oldest available job of a queue became runnable.
pub const OLDEST_AGE: &str = "backlog_queue_oldest_available_age_seconds";
/// Gauge: live registered workers, by origin.
pub const WORKERS: &str = "backlog_workers";
