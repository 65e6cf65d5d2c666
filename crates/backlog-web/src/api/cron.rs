//! `/api/cron`: list schedules, enable / disable, trigger now, edit.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use backlog::cron::{CronSchedule, MissedPolicy, Schedule};
use backlog::InsertOpts;
use backlog_storage::CronRow;
use backlog_types::Priority;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::state::AppState;
use crate::{ApiError, Identity};

/// A schedule as the API and pages show it.
#[derive(Debug, Serialize)]
pub(crate) struct CronView {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) args: Value,
    pub(crate) queue: String,
    pub(crate) priority: i16,
    pub(crate) max_attempts: i32,
    pub(crate) tags: Vec<String>,
    pub(crate) spec: String,
    pub(crate) timezone: String,
    pub(crate) missed_policy: String,
    pub(crate) enabled: bool,
    pub(crate) next_run_at: String,
    pub(crate) last_run_at: Option<String>,
}

impl From<CronRow> for CronView {
    fn from(row: CronRow) -> Self {
        let d = row.definition;
        CronView {
            name: d.name,
            kind: d.kind,
            args: d.args,
            queue: d.queue,
            priority: d.priority,
            max_attempts: d.max_attempts,
            tags: d.tags,
            spec: d.spec,
            timezone: d.timezone,
            missed_policy: d.missed_policy.as_str().to_owned(),
            enabled: d.enabled,
            next_run_at: row.next_run_at.to_rfc3339(),
            last_run_at: row.last_run_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// `GET /api/cron`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<CronView> = state
        .client
        .cron_list()
        .await?
        .into_iter()
        .map(CronView::from)
        .collect();
    Ok(Json(json!({"schedules": rows})))
}

async fn find(state: &AppState, name: &str) -> Result<CronRow, ApiError> {
    state
        .client
        .cron_list()
        .await?
        .into_iter()
        .find(|r| r.definition.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no periodic schedule named {name:?}")))
}

/// Changes to a schedule; absent fields are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CronEdit {
    spec: Option<String>,
    timezone: Option<String>,
    args: Option<Value>,
    queue: Option<String>,
    priority: Option<i16>,
    max_attempts: Option<i32>,
    tags: Option<Vec<String>>,
    missed_policy: Option<String>,
    enabled: Option<bool>,
}

async fn upsert(state: &AppState, row: CronRow, edit: CronEdit) -> Result<CronView, ApiError> {
    let d = row.definition;
    let spec = edit.spec.unwrap_or(d.spec);
    let schedule: Schedule = spec
        .parse()
        .map_err(|e: backlog::cron::ScheduleError| ApiError::BadRequest(e.to_string()))?;
    let missed = match edit.missed_policy {
        Some(m) => m
            .parse::<MissedPolicy>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => d.missed_policy,
    };
    let mut s = CronSchedule::new(d.name, d.kind, edit.args.unwrap_or(d.args), schedule)
        .timezone(&edit.timezone.unwrap_or(d.timezone))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .queue(edit.queue.unwrap_or(d.queue))
        .priority(Priority(edit.priority.unwrap_or(d.priority)))
        .max_attempts(edit.max_attempts.unwrap_or(d.max_attempts))
        .missed(missed)
        .enabled(edit.enabled.unwrap_or(d.enabled));
    for tag in edit.tags.unwrap_or(d.tags) {
        s = s.tag(tag);
    }
    Ok(state.client.cron_upsert(s).await?.into())
}

/// `POST /api/cron/{name}` with a [`CronEdit`].
pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Json(edit): Json<CronEdit>,
) -> Result<Json<Value>, ApiError> {
    let row = find(&state, &name).await?;
    let view = upsert(&state, row, edit).await?;
    tracing::info!(who = %who.name, action = "edit", schedule = %name, spec = %view.spec, enabled = view.enabled, "backlog web: cron action");
    Ok(Json(json!({"schedule": view})))
}

/// `POST /api/cron/{name}/{enable|disable|trigger}`.
pub(crate) async fn action(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let row = find(&state, &name).await?;
    let result = match action.as_str() {
        "enable" | "disable" => {
            let edit = CronEdit {
                enabled: Some(action == "enable"),
                ..Default::default()
            };
            json!({"schedule": upsert(&state, row, edit).await?})
        }
        "trigger" => {
            let d = &row.definition;
            let mut opts = InsertOpts::new()
                .queue(d.queue.clone())
                .priority(Priority(d.priority))
                .max_attempts(d.max_attempts);
            for tag in &d.tags {
                opts = opts.tag(tag.clone());
            }
            let id = state
                .client
                .enqueue_raw(&d.kind, d.args.clone(), opts)
                .await?;
            state.invalidate().await;
            json!({"job_id": id})
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown schedule action `{other}`: use enable, disable or trigger"
            )))
        }
    };
    tracing::info!(who = %who.name, action = %action, schedule = %name, result = %result, "backlog web: cron action");
    Ok(Json(result))
}
