use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use backlog::Client;
use backlog_storage::{
    Failure, JobFetchAvailableParams, JobFinish, JobFinishManyParams, JobOutcome, Storage,
};
use backlog_types::JobId;
use backlog_web::{router, WebOptions};
use serde_json::Value;
use tower::ServiceExt;

pub type Db = Arc<dyn Storage>;

pub async fn sqlite() -> Db {
    Arc::new(
        backlog::sqlite::testing::test_storage()
            .await
            .expect("sqlite test storage"),
    )
}

pub async fn postgres() -> Db {
    Arc::new(backlog::postgres::testing::test_storage().await)
}

pub fn app(db: &Db, options: WebOptions) -> Router {
    router(Client::from_arc(db.clone()), options).expect("router")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post(app: &Router, uri: &str, body: Value) -> Reply {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

/// Inserts a job with these args on `queue`.
pub async fn enqueue(db: &Db, queue: &str, kind: &str, args: Value) -> JobId {
    Client::from_arc(db.clone())
        .enqueue_raw(kind, args, backlog::InsertOpts::new().queue(queue))
        .await
        .expect("enqueue")
}

/// Runs one attempt of the next job of `queue` and records `outcome`.
pub async fn run_one(db: &Db, queue: &str, outcome: JobOutcome) -> JobId {
    let job = db
        .job_fetch_available(JobFetchAvailableParams {
            queue: queue.into(),
            max: 1,
            worker_id: "test-worker".into(),
            lease: Duration::from_secs(30),
            now: None,
            kinds: Vec::new(),
        })
        .await
        .unwrap()
        .remove(0);
    db.job_finish_many(JobFinishManyParams {
        jobs: vec![JobFinish {
            id: job.id,
            lease_token: job
                .lease_token
                .expect("a claimed job carries a lease token"),
            outcome,
            duration: Duration::from_millis(12),
            result: None,
        }],
    })
    .await
    .unwrap();
    job.id
}

pub fn discard(message: &str) -> JobOutcome {
    JobOutcome::Discard {
        failure: Failure::error(message),
    }
}

/// The process-wide Prometheus recorder (installed once for the test binary).
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("install the recorder")
        })
        .clone()
}
