//! The server-rendered dashboard pages (askama templates, escaped by default). Every value
//! shown goes through the template engine's HTML escaping; JSON is pretty-printed text.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use backlog_types::{JobId, JobRow, JobState};
use chrono::{DateTime, Utc};

use crate::api::{cron, jobs, overview, queues};
use crate::filter;
use crate::security::Nonce;
use crate::state::AppState;
use crate::ApiError;

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "backlog web: template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// A queue row of the tables.
pub(crate) struct QueueRow {
    name: String,
    available: u64,
    running: u64,
    scheduled: u64,
    retryable: u64,
    discarded: u64,
    latency: String,
    limits: String,
    paused: bool,
}

async fn queue_rows(state: &AppState) -> Result<Vec<QueueRow>, ApiError> {
    Ok(queues::views(state)
        .await?
        .into_iter()
        .map(|q| {
            let count = |s: &str| q.counts.get(s).copied().unwrap_or(0);
            let mut limits = Vec::new();
            if let Some(m) = q.max_running {
                limits.push(format!("≤ {m} running"));
            }
            if let (Some(max), Some(period)) = (q.rate_limit_max, q.rate_limit_period_secs) {
                limits.push(format!("{max} per {}", seconds(period)));
            }
            match (q.fair, q.partition_max_running) {
                (true, Some(m)) => limits.push(format!("fair, ≤ {m} running per key")),
                (true, None) => limits.push("fair".to_owned()),
                (false, _) => {}
            }
            QueueRow {
                available: q.available,
                running: q.running,
                scheduled: count("scheduled"),
                retryable: count("retryable"),
                discarded: count("discarded"),
                latency: q.latency_secs.map(seconds).unwrap_or_else(|| "—".into()),
                limits: if limits.is_empty() {
                    "—".into()
                } else {
                    limits.join(", ")
                },
                paused: q.paused,
                name: q.name,
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    base: String,
    nonce: String,
    page: &'static str,
    counts: Vec<(&'static str, u64)>,
    history_json: String,
    queues: Vec<QueueRow>,
}

/// `GET /`.
pub(crate) async fn overview_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
) -> Result<Response, ApiError> {
    let counts = overview::totals(&state).await?.into_iter().collect();
    let history = overview::history(&state, "hour").await?;
    Ok(render(&OverviewPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "overview",
        counts,
        history_json: serde_json::to_string(&history).unwrap_or_default(),
        queues: queue_rows(&state).await?,
    }))
}

struct Tab {
    name: &'static str,
    href: String,
    active: bool,
}

struct JobLine {
    id: JobId,
    state: &'static str,
    queue: String,
    kind: String,
    args: String,
    attempt: i32,
    max_attempts: i32,
    priority: i16,
    created_at: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    base: String,
    nonce: String,
    page: &'static str,
    tabs: Vec<Tab>,
    tab_query_all: String,
    current_state: String,
    f_queue: String,
    f_kind: String,
    f_priority: String,
    f_tag: String,
    f_id: String,
    f_fingerprint: String,
    f_after: String,
    f_search: String,
    filter_query: String,
    enqueue: bool,
    error: Option<String>,
    jobs: Vec<JobLine>,
    next: Option<String>,
}

/// The dashboard's own parameter `search=args.x=1` becomes the filter's `args.x=1`.
fn page_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for (k, v) in filter::pairs(query)? {
        if k == "search" {
            if let Some((path, value)) = v.split_once('=') {
                pairs.push((path.trim().to_owned(), value.trim().to_owned()));
            } else if !v.trim().is_empty() {
                return Err(ApiError::BadRequest(format!(
                    "search {v:?} needs the form args.<path>=<value> or meta.<path>=<value>"
                )));
            }
        } else {
            pairs.push((k, v));
        }
    }
    Ok(pairs)
}

/// `GET /jobs?<filter>`.
pub(crate) async fn jobs_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let raw = filter::pairs(&query.unwrap_or_default())?;
    let value = |key: &str| {
        raw.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (result, pairs) = match page_pairs(&serde_urlencoded::to_string(&raw).unwrap_or_default()) {
        Ok(pairs) => {
            let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            (jobs::page(&state, &q).await, pairs)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    let (jobs, next, error) = match result {
        Ok((jobs, next)) => (jobs, next, None),
        Err(ApiError::BadRequest(msg)) => (Vec::new(), None, Some(msg)),
        Err(e) => return Err(e),
    };
    let current_state = value("state");
    let without_state: Vec<(String, String)> = raw
        .iter()
        .filter(|(k, _)| k != "state" && k != "before")
        .cloned()
        .collect();
    let query_with = |state: Option<&str>| {
        let mut p = without_state.clone();
        if let Some(s) = state {
            p.insert(0, ("state".into(), s.into()));
        }
        let q = serde_urlencoded::to_string(&p).unwrap_or_default();
        if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        }
    };
    let filter_query = filter::to_query(&pairs);
    let next = next.map(|id| {
        let q = filter::to_query(&raw);
        if q.is_empty() {
            format!("before={id}")
        } else {
            format!("{q}&before={id}")
        }
    });
    Ok(render(&JobsPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: if current_state == "discarded" {
            "dead"
        } else {
            "jobs"
        },
        tabs: JobState::ALL
            .iter()
            .map(|s| Tab {
                name: s.as_str(),
                href: query_with(Some(s.as_str())),
                active: current_state == s.as_str(),
            })
            .collect(),
        tab_query_all: query_with(None),
        f_queue: value("queue"),
        f_kind: value("kind"),
        f_priority: value("priority"),
        f_tag: value("tag"),
        f_id: value("id"),
        f_fingerprint: value("fingerprint"),
        f_after: value("created_after"),
        f_search: value("search"),
        current_state,
        filter_query,
        enqueue: state.options.enqueue,
        error,
        jobs: jobs
            .into_iter()
            .map(|j| JobLine {
                id: j.id,
                state: j.state.as_str(),
                args: truncate(&j.args.to_string(), 120),
                queue: j.queue,
                kind: j.kind,
                attempt: j.attempt,
                max_attempts: j.max_attempts,
                priority: j.priority,
                created_at: time(j.created_at),
            })
            .collect(),
        next,
    }))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

struct AttemptLine {
    attempt: i32,
    worker: String,
    duration: String,
    error: String,
    error_kind: Option<String>,
    backtrace: Option<String>,
    panicked: bool,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    base: String,
    nonce: String,
    page: &'static str,
    id: JobId,
    state: &'static str,
    archived: bool,
    fields: Vec<(&'static str, String)>,
    args: String,
    result: Option<String>,
    progress: Option<String>,
    metadata: String,
    timeline: Vec<(String, String)>,
    attempts: Vec<AttemptLine>,
}

fn fields(j: &JobRow) -> Vec<(&'static str, String)> {
    let opt = |t: Option<DateTime<Utc>>| t.map(time).unwrap_or_else(|| "—".into());
    vec![
        ("Queue", j.queue.clone()),
        ("Kind", j.kind.clone()),
        ("Priority", j.priority.to_string()),
        ("Attempt", format!("{} of {}", j.attempt, j.max_attempts)),
        ("Tags", j.tags.join(", ")),
        (
            "Fingerprint",
            j.fingerprint.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Created", time(j.created_at)),
        ("Scheduled", time(j.scheduled_at)),
        ("Attempted", opt(j.attempted_at)),
        ("Finalized", opt(j.finalized_at)),
        ("Lease expires", opt(j.lease_expires_at)),
        ("Cancel requested", opt(j.cancel_requested_at)),
        ("Rescued", j.rescue_count.to_string()),
        (
            "Timeout",
            j.timeout_ms
                .map(|ms| seconds(ms as f64 / 1000.0))
                .unwrap_or_else(|| "the worker's".into()),
        ),
        (
            "Backoff",
            j.backoff
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_else(|| "the worker's".into()),
        ),
        ("Expires", opt(j.expires_at)),
    ]
}

fn timeline(j: &JobRow) -> Vec<(String, String)> {
    let mut t = vec![(j.created_at, "enqueued".to_owned())];
    if j.scheduled_at > j.created_at {
        t.push((j.scheduled_at, "due".to_owned()));
    }
    for e in &j.errors {
        let what = if e.panicked { "panicked" } else { "failed" };
        t.push((e.at, format!("attempt {} {what}", e.attempt)));
    }
    if let Some(at) = j.attempted_at {
        t.push((at, format!("attempt {} started", j.attempt)));
    }
    if let Some(at) = j.cancel_requested_at {
        t.push((at, "cancellation requested".to_owned()));
    }
    if let Some(at) = j.finalized_at {
        t.push((at, j.state.as_str().to_owned()));
    }
    t.sort_by_key(|(at, _)| *at);
    t.into_iter().map(|(at, what)| (time(at), what)).collect()
}

/// `GET /jobs/{id}`.
pub(crate) async fn job_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: JobId = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a job id")))?;
    let (job, archived) = jobs::find(&state, id).await?;
    let attempts = jobs::attempts(&job)
        .into_iter()
        .map(|a| AttemptLine {
            attempt: a.attempt,
            worker: a.worker.unwrap_or_default(),
            duration: a
                .duration_ms
                .map(|ms| seconds(ms / 1000.0))
                .unwrap_or_else(|| "—".into()),
            error: a.error.unwrap_or_default(),
            error_kind: a.error_kind,
            backtrace: a.backtrace,
            panicked: a.panicked,
        })
        .collect();
    Ok(render(&JobPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "jobs",
        id,
        state: job.state.as_str(),
        archived,
        fields: fields(&job),
        args: pretty(&job.args),
        result: job.result.as_ref().map(pretty),
        progress: job.progress.as_ref().map(pretty),
        metadata: pretty(&job.metadata),
        timeline: timeline(&job),
        attempts,
    }))
}

#[derive(Template)]
#[template(path = "queues.html")]
struct QueuesPage {
    base: String,
    nonce: String,
    page: &'static str,
    queues: Vec<QueueRow>,
}

/// `GET /queues`.
pub(crate) async fn queues_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
) -> Result<Response, ApiError> {
    Ok(render(&QueuesPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "queues",
        queues: queue_rows(&state).await?,
    }))
}

struct WorkerLine {
    /// Connected through a ZeroMQ server: quiet / terminate apply.
    remote: bool,
    id: String,
    host: String,
    pid: i32,
    origin: String,
    queues: String,
    kinds: String,
    in_flight: u32,
    capacity: u32,
    age: String,
}

#[derive(Template)]
#[template(path = "workers.html")]
struct WorkersPage {
    base: String,
    nonce: String,
    page: &'static str,
    workers: Vec<WorkerLine>,
}

/// `GET /workers`.
pub(crate) async fn workers_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
) -> Result<Response, ApiError> {
    let workers = overview::worker_views(&state)
        .await?
        .into_iter()
        .map(|w| WorkerLine {
            queues: w
                .queues
                .iter()
                .map(|(q, n)| format!("{q} ({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            kinds: w.kinds.join(", "),
            age: seconds(w.heartbeat_age_secs),
            remote: w.origin.starts_with("remote") && state.options.worker_control.is_some(),
            id: w.id,
            host: w.host,
            pid: w.pid,
            origin: w.origin,
            in_flight: w.in_flight,
            capacity: w.capacity,
        })
        .collect();
    Ok(render(&WorkersPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "workers",
        workers,
    }))
}

struct CronLine {
    name: String,
    spec: String,
    timezone: String,
    kind: String,
    queue: String,
    args: String,
    next_run_at: String,
    last_run_at: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "cron.html")]
struct CronPage {
    base: String,
    nonce: String,
    page: &'static str,
    schedules: Vec<CronLine>,
}

/// `GET /cron`.
pub(crate) async fn cron_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
) -> Result<Response, ApiError> {
    let schedules = state
        .client
        .cron_list()
        .await?
        .into_iter()
        .map(cron::CronView::from)
        .map(|c| CronLine {
            args: truncate(&c.args.to_string(), 80),
            last_run_at: c.last_run_at.unwrap_or_else(|| "—".into()),
            name: c.name,
            spec: c.spec,
            timezone: c.timezone,
            kind: c.kind,
            queue: c.queue,
            next_run_at: c.next_run_at,
            enabled: c.enabled,
        })
        .collect();
    Ok(render(&CronPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "cron",
        schedules,
    }))
}

struct WorkflowLine {
    id: i64,
    name: String,
    created_at: String,
    jobs: u64,
    states: Vec<(&'static str, u64)>,
    waiting: u64,
    finished: bool,
}

struct BatchLine {
    id: i64,
    description: String,
    parent: String,
    status: &'static str,
    total: u64,
    succeeded: u64,
    failed: u64,
    cancelled: u64,
    callback: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    base: String,
    nonce: String,
    page: &'static str,
    workflows: Vec<WorkflowLine>,
    batches: Vec<BatchLine>,
}

/// `GET /workflows`: the latest workflows and batches.
pub(crate) async fn workflows_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
) -> Result<Response, ApiError> {
    let workflows = state
        .client
        .workflow_list(backlog_storage::WorkflowListParams {
            before_id: None,
            limit: 100,
        })
        .await?
        .into_iter()
        .map(|w| WorkflowLine {
            jobs: w.total(),
            finished: w.is_finished(),
            states: w.states.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            id: w.id,
            name: w.name,
            created_at: time(w.created_at),
            waiting: w.waiting,
        })
        .collect();
    let batches = state
        .client
        .batch_list(backlog_storage::BatchListParams {
            before_id: None,
            limit: 100,
        })
        .await?
        .into_iter()
        .map(|b| BatchLine {
            id: b.counts.id,
            status: match (b.sealed_at, b.finished_at) {
                (_, Some(_)) => "finished",
                (Some(_), None) => "sealed",
                (None, None) => "open",
            },
            total: b.counts.total,
            succeeded: b.counts.succeeded,
            failed: b.counts.failed,
            cancelled: b.counts.cancelled,
            description: b.description,
            parent: b
                .parent
                .map(|p| p.to_string())
                .unwrap_or_else(|| "—".into()),
            callback: match (b.callback_kind, b.callback_job_id) {
                (Some(kind), Some(job)) => format!("{kind} (job {job})"),
                (Some(kind), None) => kind,
                (None, _) => "—".into(),
            },
            created_at: time(b.created_at),
        })
        .collect();
    Ok(render(&WorkflowsPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "workflows",
        workflows,
        batches,
    }))
}

struct WorkflowJobLine {
    id: JobId,
    kind: String,
    queue: String,
    state: &'static str,
    depends_on: Vec<JobId>,
    deps_left: i32,
    args: String,
}

#[derive(Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    base: String,
    nonce: String,
    page: &'static str,
    id: i64,
    name: String,
    created_at: String,
    total: u64,
    waiting: u64,
    finished: bool,
    jobs: Vec<WorkflowJobLine>,
}

/// `GET /workflows/{id}`: a workflow's jobs, their states and dependencies.
pub(crate) async fn workflow_page(
    State(state): State<AppState>,
    Extension(nonce): Extension<Nonce>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a workflow id")))?;
    let Some(workflow) = state.client.workflow_get(id).await? else {
        return Err(ApiError::NotFound(format!("no workflow with id {id}")));
    };
    let jobs = state
        .client
        .workflow_jobs(id)
        .await?
        .into_iter()
        .map(|w| {
            let job = state.redact(w.job);
            WorkflowJobLine {
                id: job.id,
                state: job.state.as_str(),
                args: truncate(&job.args.to_string(), 80),
                kind: job.kind,
                queue: job.queue,
                depends_on: w.depends_on,
                deps_left: w.deps_left,
            }
        })
        .collect();
    Ok(render(&WorkflowPage {
        base: state.base.to_string(),
        nonce: nonce.0,
        page: "workflows",
        id,
        total: workflow.total(),
        waiting: workflow.waiting,
        finished: workflow.is_finished(),
        name: workflow.name,
        created_at: time(workflow.created_at),
        jobs,
    }))
}
