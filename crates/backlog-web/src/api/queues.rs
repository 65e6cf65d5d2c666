//! `/api/queues`: sizes, oldest-job latency, paused, limits; pause, resume, change limits.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use backlog_storage::{QueueUpdateParams, RateLimit};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::state::AppState;
use crate::{ApiError, Identity};

/// A queue as the API and pages show it.
#[derive(Debug, Serialize)]
pub(crate) struct QueueView {
    pub(crate) name: String,
    pub(crate) paused: bool,
    pub(crate) paused_at: Option<String>,
    pub(crate) max_running: Option<u32>,
    pub(crate) rate_limit_max: Option<u32>,
    pub(crate) rate_limit_period_secs: Option<f64>,
    /// Whether claims rotate over partition keys.
    pub(crate) fair: bool,
    /// Most jobs of one partition key running at once, if limited.
    pub(crate) partition_max_running: Option<u32>,
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) available: u64,
    pub(crate) running: u64,
    pub(crate) latency_secs: Option<f64>,
}

/// Every queue with its settings, counts and latency.
pub(crate) async fn views(state: &AppState) -> Result<Vec<QueueView>, ApiError> {
    let storage = state.client.storage();
    let queues = state.queues().await?;
    let latency = storage.queue_latency().await?;
    let now = Utc::now();
    Ok(queues
        .into_iter()
        .map(|q| {
            let oldest = latency.iter().find(|l| l.queue == q.name);
            QueueView {
                paused: q.is_paused(),
                paused_at: q.paused_at.map(|t| t.to_rfc3339()),
                max_running: q.max_running,
                rate_limit_max: q.rate_limit.map(|r| r.max),
                rate_limit_period_secs: q.rate_limit.map(|r| r.period.as_secs_f64()),
                fair: q.fair,
                partition_max_running: q.partition_max_running,
                available: q.count(backlog_types::JobState::Available),
                running: q.count(backlog_types::JobState::Running),
                counts: q
                    .counts
                    .iter()
                    .map(|(s, n)| (s.as_str().to_owned(), *n))
                    .collect(),
                latency_secs: oldest.map(|l| {
                    ((now - l.oldest_available_at).num_milliseconds().max(0) as f64) / 1000.0
                }),
                name: q.name,
            }
        })
        .collect())
}

/// `GET /api/queues`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"queues": views(&state).await?})))
}

/// `POST /api/queues/{name}/pause` and `/resume`.
pub(crate) async fn pause_resume(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let changed = match action.as_str() {
        "pause" => {
            state.client.queue_pause(&name).await?;
            true
        }
        "resume" => state.client.queue_resume(&name).await?,
        other => {
            return Err(ApiError::NotFound(format!(
                "unknown queue action `{other}`: use pause, resume or limits"
            )))
        }
    };
    state.refresh_queues().await?;
    tracing::info!(who = %who.name, action = %action, queue = %name, "backlog web: queue action");
    Ok(Json(
        json!({"queue": name, "action": action, "changed": changed}),
    ))
}

/// Body of `POST /api/queues/{name}/limits`: a field absent is unchanged, `null` removes the
/// limit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    #[serde(default, with = "double_option")]
    max_running: Option<Option<u32>>,
    #[serde(default, with = "double_option")]
    rate_limit: Option<Option<RateBody>>,
    #[serde(default, with = "double_option")]
    partition_max_running: Option<Option<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBody {
    max: u32,
    period_secs: f64,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `POST /api/queues/{name}/limits`.
pub(crate) async fn limits(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Json(body): Json<LimitsBody>,
) -> Result<Json<Value>, ApiError> {
    let rate_limit = match body.rate_limit {
        Some(Some(r)) => {
            if !(r.period_secs.is_finite() && r.period_secs > 0.0 && r.period_secs < 1e9) {
                return Err(ApiError::BadRequest(
                    "rate_limit.period_secs must be a number of seconds above zero".into(),
                ));
            }
            Some(Some(RateLimit {
                max: r.max,
                period: Duration::from_secs_f64(r.period_secs),
            }))
        }
        Some(None) => Some(None),
        None => None,
    };
    let info = state
        .client
        .queue_update(QueueUpdateParams {
            queue: name.clone(),
            max_running: body.max_running,
            rate_limit,
            partition_max_running: body.partition_max_running,
        })
        .await?;
    state.refresh_queues().await?;
    tracing::info!(who = %who.name, action = "limits", queue = %name, max_running = ?info.max_running, rate_limit = ?info.rate_limit, "backlog web: queue action");
    Ok(Json(json!({
        "queue": name,
        "max_running": info.max_running,
        "rate_limit_max": info.rate_limit.map(|r| r.max),
        "rate_limit_period_secs": info.rate_limit.map(|r| r.period.as_secs_f64()),
        "fair": info.fair,
        "partition_max_running": info.partition_max_running,
    })))
}
