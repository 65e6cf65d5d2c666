//! The JSON API: the same endpoints the dashboard's pages and scripts use.

pub(crate) mod cron;
pub(crate) mod jobs;
pub(crate) mod overview;
pub(crate) mod queues;
pub(crate) mod workflows;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// Every `/api` route (guarded by the caller).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/overview", get(overview::overview))
        .route("/api/jobs", get(jobs::list).post(jobs::enqueue))
        .route("/api/jobs/count", get(jobs::count))
        .route("/api/jobs/{id}", get(jobs::get))
        .route("/api/jobs/actions/{action}", post(jobs::action))
        .route("/api/queues", get(queues::list))
        .route("/api/queues/{name}/limits", post(queues::limits))
        .route("/api/queues/{name}/{action}", post(queues::pause_resume))
        .route("/api/workers", get(overview::workers))
        .route("/api/workers/{id}/{command}", post(overview::command))
        .route("/api/cron", get(cron::list))
        .route("/api/cron/{name}", post(cron::edit))
        .route("/api/cron/{name}/{action}", post(cron::action))
        .route("/api/workflows", get(workflows::list))
        .route("/api/workflows/{id}", get(workflows::get))
        .route("/api/workflows/{id}/{action}", post(workflows::action))
        .route("/api/batches", get(workflows::list_batches))
        .route("/api/batches/{id}", get(workflows::get_batch))
}
