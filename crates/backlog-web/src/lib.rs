//! # backlog-web
//!
//! Backlog's JSON HTTP API, web dashboard and Prometheus endpoint, as one [`axum::Router`] to
//! serve on its own (`backlog serve`) or mount in your application:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use backlog_web::{router, Auth, BasicUser, Role, WebOptions};
//!
//! let storage = backlog::sqlite::SqliteStorage::open("backlog.sqlite3", Default::default()).await?;
//! let client = backlog::Client::new(storage);
//! let options = WebOptions {
//!     prefix: "/backlog".into(),
//!     auth: Auth::Basic(vec![BasicUser {
//!         user: "ops".into(),
//!         password: std::env::var("BACKLOG_WEB_PASSWORD")?,
//!         role: Role::Admin,
//!     }]),
//!     ..WebOptions::default()
//! };
//! let app = axum::Router::new().merge(router(client, options)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Pages: `/` (overview), `/jobs`, `/jobs/{id}`, `/queues`, `/workers`, `/cron`; the API under
//! `/api` (documented in `docs/http_api.md`), `/metrics`, and `/health/live`,
//! `/health/ready` (exempt from authentication). Every page and endpoint sends a CSP with a
//! nonce, `nosniff`, `no-store` and `frame-ancestors 'none'`; state-changing requests from
//! other sites are refused; write actions are logged with `tracing` (who, what, which jobs).

mod api;
mod assets;
mod auth;
mod cache;
mod error;
mod filter;
mod options;
mod pages;
mod security;
mod state;

use axum::middleware;
use axum::routing::get;
use axum::Router;
use backlog::Client;

pub use api::overview::{OLDEST_AGE, WORKERS};
pub use auth::{Auth, Authorize, BasicUser, Identity, Role};
pub use error::ApiError;
pub use options::{Redact, WebOptions, WorkerCommand, WorkerControl};

/// Why the router could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// The path prefix is not a plain absolute path.
    #[error("invalid path prefix {0:?}: use an absolute path such as /backlog, without ?, #, quotes or spaces")]
    Prefix(String),
}

/// The API, dashboard, `/metrics` and health endpoints, mounted at `options.prefix`.
pub fn router(client: Client, options: WebOptions) -> Result<Router, RouterError> {
    let base = options.normalized_prefix()?;
    let state = state::AppState::new(client, options, base.clone());
    let guarded = Router::new()
        .route("/", get(pages::overview_page))
        .route("/jobs", get(pages::jobs_page))
        .route("/jobs/{id}", get(pages::job_page))
        .route("/queues", get(pages::queues_page))
        .route("/workers", get(pages::workers_page))
        .route("/cron", get(pages::cron_page))
        .route("/workflows", get(pages::workflows_page))
        .route("/workflows/{id}", get(pages::workflow_page))
        .route("/metrics", get(api::overview::metrics))
        .merge(api::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ));
    let inner = Router::new()
        .route("/health/live", get(api::overview::live))
        .route("/health/ready", get(api::overview::ready))
        .route("/assets/app.js", get(assets::script))
        .route("/assets/app.css", get(assets::style))
        .merge(guarded)
        .fallback(not_found)
        .layer(middleware::from_fn(security::headers))
        .with_state(state);
    Ok(if base.is_empty() {
        inner
    } else {
        Router::new().nest(&base, inner)
    })
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such page or endpoint".into())
}
