//! `/api/jobs`: list, count, one job with its history, actions by ids or by filter, enqueue.

use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use backlog::InsertOpts;
use backlog_storage::{JobFilter, JobIdsParams};
use backlog_types::{JobId, JobRow, Priority};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::filter;
use crate::state::AppState;
use crate::{ApiError, Identity};

/// One attempt of a job, assembled from the job's per-attempt arrays.
#[derive(Debug, Serialize)]
pub(crate) struct Attempt {
    pub(crate) attempt: i32,
    pub(crate) worker: Option<String>,
    pub(crate) duration_ms: Option<f64>,
    pub(crate) error: Option<String>,
    /// The error's type, when the worker named one (`timeout`, `expired`, an exception class).
    pub(crate) error_kind: Option<String>,
    /// The stack trace the worker sent, kept apart from the message.
    pub(crate) backtrace: Option<String>,
    pub(crate) panicked: bool,
    pub(crate) failed_at: Option<String>,
}

/// Every attempt of `job`, first to last.
pub(crate) fn attempts(job: &JobRow) -> Vec<Attempt> {
    (1..=job.attempt)
        .map(|n| {
            let i = usize::try_from(n - 1).unwrap_or(0);
            let error = job.errors.iter().rev().find(|e| e.attempt == n);
            Attempt {
                attempt: n,
                worker: job.attempted_by.get(i).cloned(),
                duration_ms: job
                    .attempt_durations_us
                    .get(i)
                    .map(|us| *us as f64 / 1000.0),
                error: error.map(|e| e.message.clone()),
                error_kind: error.and_then(|e| e.kind.clone()),
                backtrace: error.and_then(|e| e.backtrace.clone()),
                panicked: error.is_some_and(|e| e.panicked),
                failed_at: error.map(|e| e.at.to_rfc3339()),
            }
        })
        .collect()
}

/// A page of jobs and the cursor of the next one.
pub(crate) async fn page(
    state: &AppState,
    query: &str,
) -> Result<(Vec<JobRow>, Option<JobId>), ApiError> {
    let params = filter::parse(&filter::pairs(query)?)?;
    let limit = params.limit;
    let jobs = state.client.storage().job_search(params).await?;
    let next = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok((jobs.into_iter().map(|j| state.redact(j)).collect(), next))
}

/// `GET /api/jobs?<filter>`.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = query.unwrap_or_default();
    let (jobs, next) = page(&state, &query).await?;
    let pairs = filter::pairs(&query)?;
    let next_query = next.map(|id| {
        let mut q = filter::to_query(&pairs);
        if !q.is_empty() {
            q.push('&');
        }
        format!("{q}before={id}")
    });
    Ok(Json(
        json!({"jobs": jobs, "next_before": next, "next_query": next_query}),
    ))
}

/// The ids an action by filter applies to: at most `bulk_cap`, and whether more matched.
async fn matching_ids(state: &AppState, query: &str) -> Result<(Vec<JobId>, bool), ApiError> {
    let mut params = filter::parse(&filter::pairs(query)?)?;
    let cap = state.options.bulk_cap.max(1);
    params.limit = cap + 1;
    params.before_id = None;
    let mut ids: Vec<JobId> = state
        .client
        .storage()
        .job_search(params)
        .await?
        .into_iter()
        .map(|j| j.id)
        .collect();
    let capped = ids.len() > cap as usize;
    ids.truncate(cap as usize);
    Ok((ids, capped))
}

/// `GET /api/jobs/count?<filter>`: how many jobs an action by this filter would touch (up to
/// the cap), to show before confirming.
pub(crate) async fn count(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (ids, capped) = matching_ids(&state, &query.unwrap_or_default()).await?;
    Ok(Json(
        json!({"count": ids.len(), "capped": capped, "cap": state.options.bulk_cap}),
    ))
}

/// `GET /api/jobs/{id}`: the job, its attempts, and whether it comes from the archive.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> Result<Json<Value>, ApiError> {
    let (job, archived) = find(&state, id).await?;
    let attempts = attempts(&job);
    Ok(Json(
        json!({"job": job, "attempts": attempts, "archived": archived}),
    ))
}

/// The job (redacted) from the table or, once cleaned up, the archive.
pub(crate) async fn find(state: &AppState, id: JobId) -> Result<(JobRow, bool), ApiError> {
    let storage = state.client.storage();
    if let Some(job) = storage.job_get(id).await? {
        return Ok((state.redact(job), false));
    }
    match storage.job_archive_get(id).await? {
        Some(job) => Ok((state.redact(job), true)),
        None => Err(ApiError::NotFound(format!("no job with id {id}"))),
    }
}

/// Body of an action: explicit ids, or a filter in query-string form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    #[serde(default)]
    ids: Vec<JobId>,
    #[serde(default)]
    filter: Option<String>,
}

/// What an action does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Retry,
    Cancel,
    Delete,
}

impl Action {
    fn parse(name: &str) -> Result<Action, ApiError> {
        match name {
            "retry" => Ok(Action::Retry),
            "cancel" => Ok(Action::Cancel),
            "delete" => Ok(Action::Delete),
            other => Err(ApiError::NotFound(format!(
                "unknown job action `{other}`: use retry, cancel or delete"
            ))),
        }
    }
}

/// `POST /api/jobs/{action}` with `{"ids": [...]}` or `{"filter": "state=discarded&..."}`.
pub(crate) async fn action(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Json(body): Json<ActionBody>,
) -> Result<Json<Value>, ApiError> {
    let action = Action::parse(&name)?;
    let (ids, capped, filter_text) = match (body.ids.is_empty(), body.filter) {
        (false, None) => (body.ids, false, None),
        (true, Some(f)) if !f.trim().is_empty() => {
            let (ids, capped) = matching_ids(&state, &f).await?;
            (ids, capped, Some(f))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either \"ids\": [..] or a non-empty \"filter\": \"state=...\", not both"
                    .into(),
            ))
        }
    };
    let result = apply(&state, action, ids.clone()).await?;
    state.invalidate().await;
    tracing::info!(
        who = %who.name,
        action = name,
        filter = filter_text.as_deref().unwrap_or(""),
        matched = ids.len(),
        jobs = ?ids,
        changed = ?result.get("changed"),
        "backlog web: job action"
    );
    let mut result = result;
    result["matched"] = json!(ids.len());
    result["capped"] = json!(capped);
    Ok(Json(result))
}

async fn apply(state: &AppState, action: Action, ids: Vec<JobId>) -> Result<Value, ApiError> {
    let storage = state.client.storage();
    if ids.is_empty() {
        return Ok(json!({"changed": Vec::<JobId>::new()}));
    }
    Ok(match action {
        Action::Retry => {
            let filter = JobFilter {
                ids,
                ..Default::default()
            };
            json!({"changed": storage.job_retry_by_filter(filter).await?})
        }
        Action::Cancel => {
            let filter = JobFilter {
                ids,
                ..Default::default()
            };
            let r = storage.job_cancel_by_filter(filter).await?;
            let mut changed = r.cancelled.clone();
            changed.extend(&r.cancel_requested);
            json!({"changed": changed, "cancelled": r.cancelled, "cancel_requested": r.cancel_requested})
        }
        Action::Delete => {
            json!({"changed": storage.job_purge_many(JobIdsParams { ids }).await?})
        }
    })
}

/// Body of `POST /api/jobs` (enqueue).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnqueueBody {
    kind: String,
    #[serde(default)]
    args: Value,
    queue: Option<String>,
    priority: Option<i16>,
    max_attempts: Option<i32>,
    #[serde(default)]
    tags: Vec<String>,
}

/// `POST /api/jobs`: enqueue one job (only with [`WebOptions::enqueue`](crate::WebOptions)).
pub(crate) async fn enqueue(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Json(body): Json<EnqueueBody>,
) -> Result<Json<Value>, ApiError> {
    if !state.options.enqueue {
        return Err(ApiError::Forbidden(
            "enqueueing from the dashboard is off; enable WebOptions::enqueue (backlog serve --allow-enqueue)".into(),
        ));
    }
    let mut opts = InsertOpts::new();
    if let Some(q) = body.queue {
        opts = opts.queue(q);
    }
    if let Some(p) = body.priority {
        opts = opts.priority(Priority(p));
    }
    if let Some(n) = body.max_attempts {
        opts = opts.max_attempts(n);
    }
    for tag in body.tags {
        opts = opts.tag(tag);
    }
    let args = if body.args.is_null() {
        json!({})
    } else {
        body.args
    };
    let id = state.client.enqueue_raw(&body.kind, args, opts).await?;
    state.invalidate().await;
    tracing::info!(who = %who.name, action = "enqueue", kind = %body.kind, job = id, "backlog web: job action");
    Ok(Json(json!({"id": id})))
}
