//! Write actions are logged with who did what to which jobs (the audit trail).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request};
use backlog_web::{router, Auth, Identity, Role, WebOptions};
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn write_actions_are_logged_with_who_what_and_which_jobs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let storage = backlog::sqlite::testing::test_storage().await.unwrap();
    let client = backlog::Client::new(storage);
    let id = client
        .enqueue_raw("audited", serde_json::json!({}), backlog::InsertOpts::new())
        .await
        .unwrap();
    let hook = |_: &axum::http::request::Parts| {
        Some(Identity {
            name: "carol@example.com".into(),
            role: Role::Admin,
        })
    };
    let app = router(
        client,
        WebOptions {
            auth: Auth::Hook(Arc::new(hook)),
            ..WebOptions::default()
        },
    )
    .unwrap();
    let request = Request::post("/api/jobs/actions/cancel")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!("{{\"ids\": [{id}]}}")))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success());
    let request = Request::post("/api/queues/audit_q/pause")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert!(app.oneshot(request).await.unwrap().status().is_success());

    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let job_line = log
        .lines()
        .find(|l| l.contains("backlog web: job action"))
        .unwrap_or_else(|| panic!("no audit line in:\n{log}"));
    assert!(job_line.contains("who=carol@example.com"), "{job_line}");
    assert!(job_line.contains("action=\"cancel\""), "{job_line}");
    assert!(job_line.contains(&format!("jobs=[{id}]")), "{job_line}");
    let queue_line = log
        .lines()
        .find(|l| l.contains("backlog web: queue action"))
        .unwrap_or_else(|| panic!("no queue audit line in:\n{log}"));
    assert!(queue_line.contains("who=carol@example.com") && queue_line.contains("queue=audit_q"));
}
