//! `/api/workflows` and `/api/batches`: read-only views of workflows (jobs with dependencies)
//! and batches (jobs grouped, with a callback).

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use backlog_storage::{
    BatchId, BatchListParams, BatchRow, WorkflowId, WorkflowJob, WorkflowListParams, WorkflowRow,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::state::AppState;
use crate::{ApiError, Identity};

/// Most rows one page returns.
const MAX_LIMIT: u32 = 500;

/// `?before=ID&limit=N` (newest first; `before` is the last id of the previous page).
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    before: Option<i64>,
    limit: Option<u32>,
}

impl Page {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, MAX_LIMIT)
    }
}

fn workflow_json(row: &WorkflowRow) -> Value {
    let states: Map<String, Value> = row
        .states
        .iter()
        .map(|(state, n)| (state.to_string(), json!(n)))
        .collect();
    json!({
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at.to_rfc3339(),
        "jobs": row.total(),
        "waiting": row.waiting,
        "finished": row.is_finished(),
        "states": states,
    })
}

fn batch_json(row: &BatchRow) -> Value {
    let status = match (row.sealed_at, row.finished_at) {
        (_, Some(_)) => "finished",
        (Some(_), None) => "sealed",
        (None, None) => "open",
    };
    json!({
        "id": row.counts.id,
        "parent": row.parent,
        "description": row.description,
        "status": status,
        "total": row.counts.total,
        "succeeded": row.counts.succeeded,
        "failed": row.counts.failed,
        "cancelled": row.counts.cancelled,
        "callback_kind": row.callback_kind,
        "callback_job_id": row.callback_job_id,
        "created_at": row.created_at.to_rfc3339(),
        "sealed_at": row.sealed_at.map(|t| t.to_rfc3339()),
        "finished_at": row.finished_at.map(|t| t.to_rfc3339()),
    })
}

/// `GET /api/workflows?before=ID&limit=N`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let rows = state
        .client
        .workflow_list(WorkflowListParams {
            before_id: page.before,
            limit: page.limit(),
        })
        .await?;
    let next = (rows.len() == page.limit() as usize)
        .then(|| rows.last().map(|w| w.id))
        .flatten();
    Ok(Json(json!({
        "workflows": rows.iter().map(workflow_json).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

/// `GET /api/workflows/{id}`: the workflow and each of its jobs (redacted like job details).
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<WorkflowId>,
) -> Result<Json<Value>, ApiError> {
    let Some(row) = state.client.workflow_get(id).await? else {
        return Err(ApiError::NotFound(format!("no workflow with id {id}")));
    };
    let jobs: Vec<Value> = state
        .client
        .workflow_jobs(id)
        .await?
        .into_iter()
        .map(
            |WorkflowJob {
                 job,
                 deps_left,
                 depends_on,
             }| {
                let job = state.redact(job);
                json!({
                    "id": job.id,
                    "state": job.state,
                    "queue": job.queue,
                    "kind": job.kind,
                    "args": job.args,
                    "deps_left": deps_left,
                    "depends_on": depends_on,
                    "result": job.result,
                })
            },
        )
        .collect();
    let mut value = workflow_json(&row);
    value["jobs"] = Value::Array(jobs);
    Ok(Json(value))
}

/// `POST /api/workflows/{id}/{action}`: `cancel` (every unfinished job of it; running ones
/// get a cancellation request) or `retry` (its failed and cancelled jobs run again, and the
/// dependants they released wait for them again).
pub(crate) async fn action(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((id, action)): Path<(WorkflowId, String)>,
) -> Result<Json<Value>, ApiError> {
    if state.client.workflow_get(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no workflow with id {id}")));
    }
    let result = match action.as_str() {
        "cancel" => {
            let r = state.client.workflow_cancel(id).await?;
            json!({"cancelled": r.cancelled, "cancel_requested": r.cancel_requested})
        }
        "retry" => json!({"retried": state.client.workflow_retry(id).await?}),
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown workflow action `{other}`: use cancel or retry"
            )))
        }
    };
    state.invalidate().await;
    tracing::info!(who = %who.name, action = %action, workflow = id, result = %result, "backlog web: workflow action");
    Ok(Json(result))
}

/// `GET /api/batches?before=ID&limit=N`.
pub(crate) async fn list_batches(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let rows = state
        .client
        .batch_list(BatchListParams {
            before_id: page.before,
            limit: page.limit(),
        })
        .await?;
    let next = (rows.len() == page.limit() as usize)
        .then(|| rows.last().map(|b| b.counts.id))
        .flatten();
    Ok(Json(json!({
        "batches": rows.iter().map(batch_json).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

/// `GET /api/batches/{id}`.
pub(crate) async fn get_batch(
    State(state): State<AppState>,
    Path(id): Path<BatchId>,
) -> Result<Json<Value>, ApiError> {
    match state.client.batch_get(id).await? {
        Some(row) => Ok(Json(batch_json(&row))),
        None => Err(ApiError::NotFound(format!("no batch with id {id}"))),
    }
}
