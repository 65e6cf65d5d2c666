use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use backlog_web::{Auth, BasicUser, Identity, Role, WebOptions};
use serde_json::json;

use crate::support::{app, enqueue, get, post, send, Db};

fn basic(user: &str, password: &str) -> String {
    // Standard base64 of "user:password", written out for the test's few inputs.
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn with_auth(uri: &str, method: &str, auth: Option<String>) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = auth {
        r = r.header(header::AUTHORIZATION, a);
    }
    r.body(Body::from(if method == "POST" { "{}" } else { "" }))
        .unwrap()
}

pub async fn basic_auth_and_read_only_role(db: Db) {
    let app = app(
        &db,
        WebOptions {
            auth: Auth::Basic(vec![
                BasicUser {
                    user: "ops".into(),
                    password: "s3cret".into(),
                    role: Role::Admin,
                },
                BasicUser {
                    user: "viewer".into(),
                    password: "look".into(),
                    role: Role::ReadOnly,
                },
            ]),
            ..WebOptions::default()
        },
    );
    let r = send(&app, with_auth("/api/queues", "GET", None)).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(send(&app, with_auth("/", "GET", None)).await.status, 401);
    assert_eq!(
        send(
            &app,
            with_auth("/api/queues", "GET", Some(basic("ops", "wrong")))
        )
        .await
        .status,
        401
    );
    assert_eq!(
        send(
            &app,
            with_auth("/api/queues", "GET", Some(basic("nobody", "s3cret")))
        )
        .await
        .status,
        401
    );
    assert_eq!(
        send(
            &app,
            with_auth("/api/queues", "GET", Some("Bearer x".into()))
        )
        .await
        .status,
        401
    );
    assert_eq!(
        send(
            &app,
            with_auth("/api/queues", "GET", Some(basic("ops", "s3cret")))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send(
            &app,
            with_auth("/api/queues", "GET", Some(basic("viewer", "look")))
        )
        .await
        .status,
        200
    );
    let r = send(
        &app,
        with_auth("/api/queues/q/pause", "POST", Some(basic("viewer", "look"))),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("read-only"));
    let r = send(
        &app,
        with_auth("/api/queues/q/pause", "POST", Some(basic("ops", "s3cret"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Health is exempt.
    assert_eq!(
        send(&app, with_auth("/health/live", "GET", None))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&app, with_auth("/health/ready", "GET", None))
            .await
            .status,
        200
    );
}

pub async fn authorization_hook(db: Db) {
    let hook = |parts: &axum::http::request::Parts| {
        let token = parts.headers.get("x-token")?.to_str().ok()?;
        match token {
            "admin-token" => Some(Identity {
                name: "alice".into(),
                role: Role::Admin,
            }),
            "reader-token" => Some(Identity {
                name: "bob".into(),
                role: Role::ReadOnly,
            }),
            _ => None,
        }
    };
    let app = app(
        &db,
        WebOptions {
            auth: Auth::Hook(Arc::new(hook)),
            ..WebOptions::default()
        },
    );
    let req = |method: &str, uri: &str, token: Option<&str>| {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            r = r.header("x-token", t);
        }
        r.body(Body::from(if method == "POST" { "{}" } else { "" }))
            .unwrap()
    };
    assert_eq!(
        send(&app, req("GET", "/api/workers", None)).await.status,
        401
    );
    assert_eq!(
        send(&app, req("GET", "/api/workers", Some("reader-token")))
            .await
            .status,
        200
    );
    assert_eq!(
        send(
            &app,
            req("POST", "/api/queues/q/pause", Some("reader-token"))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        send(
            &app,
            req("POST", "/api/queues/q/pause", Some("admin-token"))
        )
        .await
        .status,
        200
    );
}

pub async fn cross_site_writes_are_refused(db: Db) {
    let app = app(&db, WebOptions::default());
    let write = |headers: &[(&str, &str)], content_type: &str| {
        let mut r = Request::post("/api/queues/q/pause").header(header::HOST, "localhost:8080");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.header(header::CONTENT_TYPE, content_type)
            .body(Body::from("{}"))
            .unwrap()
    };
    let json_ct = "application/json";
    for (headers, ct, why) in [
        (vec![("origin", "https://evil.example")], json_ct, "origin"),
        (vec![("origin", "null")], json_ct, "null origin"),
        (
            vec![("sec-fetch-site", "cross-site")],
            json_ct,
            "fetch site",
        ),
        (
            vec![("sec-fetch-site", "same-site")],
            json_ct,
            "sibling site",
        ),
        (vec![], "application/x-www-form-urlencoded", "form"),
        (vec![], "multipart/form-data; boundary=x", "multipart"),
        (vec![], "text/plain", "text"),
    ] {
        let r = send(&app, write(&headers, ct)).await;
        assert_eq!(r.status, 403, "{why}");
        assert_eq!(r.json()["error"]["code"], "cross_site_request", "{why}");
    }
    let ok = send(
        &app,
        write(
            &[
                ("origin", "http://localhost:8080"),
                ("sec-fetch-site", "same-origin"),
            ],
            json_ct,
        ),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Reads are not affected.
    let r = send(
        &app,
        Request::get("/api/queues")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

pub async fn security_headers_and_escaping(db: Db) {
    let evil = r#"<script>alert("x")</script>' onmouseover="boom"#;
    let id = enqueue(&db, "q", "k", json!({"name": evil, "tag": "<b>bold</b>"})).await;
    let workflow = db
        .workflow_insert(backlog_storage::WorkflowInsertParams {
            name: evil.to_owned(),
            jobs: vec![backlog_storage::JobInsert::new(
                "q",
                "k",
                json!({"tag": "<b>bold</b>"}),
            )],
            dependencies: Vec::new(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let app = app(&db, WebOptions::default());
    let workflow_page = format!("/workflows/{}", workflow.id);
    for uri in [
        "/",
        "/jobs",
        &format!("/jobs/{id}"),
        "/queues",
        "/workflows",
        &workflow_page,
        "/api/jobs",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, 200, "{uri}");
        let h = &r.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        if !uri.starts_with("/api") {
            let nonce = csp
                .split("'nonce-")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap();
            assert!(
                r.body.contains(&format!("nonce=\"{nonce}\"")),
                "{uri}: script carries the nonce"
            );
            assert!(
                !r.body.contains("<script>alert"),
                "{uri}: raw script tag rendered"
            );
            assert!(!r.body.contains("<b>bold"), "{uri}: raw markup rendered");
            assert!(
                !r.body.contains("\" onmouseover=\"boom"),
                "{uri}: attribute breakout"
            );
        }
    }
    let detail = get(&app, &format!("/jobs/{id}")).await.body;
    assert!(
        detail.contains("&#60;script&#62;alert(") || detail.contains("&lt;script&gt;alert("),
        "{detail}"
    );
    // Nonces differ per response.
    let a = get(&app, "/").await.headers["content-security-policy"].clone();
    let b = get(&app, "/").await.headers["content-security-policy"].clone();
    assert_ne!(a, b);
}

pub async fn redaction_hook_applies_everywhere(db: Db) {
    let id = enqueue(&db, "q", "k", json!({"password": "hunter2", "user": "ada"})).await;
    let redact: backlog_web::Redact = Arc::new(|job: &mut backlog_types::JobRow| {
        if let Some(p) = job.args.get_mut("password") {
            *p = json!("[redacted]");
        }
    });
    let app = app(
        &db,
        WebOptions {
            redact: Some(redact),
            ..WebOptions::default()
        },
    );
    for uri in [
        "/api/jobs".to_owned(),
        format!("/api/jobs/{id}"),
        "/jobs".into(),
        format!("/jobs/{id}"),
    ] {
        let r = get(&app, &uri).await;
        assert!(!r.body.contains("hunter2"), "{uri}");
        assert!(r.body.contains("[redacted]"), "{uri}");
    }
    // Searching still works on the stored value.
    let r = post(
        &app,
        "/api/jobs/actions/cancel",
        json!({"filter": "args.user=ada"}),
    )
    .await;
    assert_eq!(r.json()["matched"], 1);
}
