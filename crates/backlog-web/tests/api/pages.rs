use backlog_web::WebOptions;
use serde_json::json;

use crate::support::{app, discard, enqueue, get, run_one, Db};

pub async fn every_page_renders(db: Db) {
    let id = enqueue(&db, "mail", "send", json!({"to": "ada"})).await;
    run_one(&db, "mail", discard("smtp down")).await;
    let app = app(&db, WebOptions::default());
    let overview = get(&app, "/").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("Throughput") && overview.body.contains(">mail<"));
    let jobs = get(&app, "/jobs?state=discarded&queue=mail").await;
    assert!(
        jobs.body.contains(&format!("/jobs/{id}\"")),
        "{}",
        jobs.body
    );
    let dead = get(&app, "/jobs?state=discarded").await.body;
    assert!(dead.contains("<h1>Dead letters</h1>"));
    let searched = get(&app, "/jobs?search=args.to%3Dada").await.body;
    assert!(searched.contains(&format!("data-id=\"{id}\"")));
    let none = get(&app, "/jobs?search=args.to%3Dbob").await.body;
    assert!(none.contains("No jobs match."));
    let bad = get(&app, "/jobs?state=nope").await;
    assert_eq!(bad.status, 200);
    assert!(
        bad.body.contains("unknown job state `nope`"),
        "bad filters are shown on the page"
    );
    let detail = get(&app, &format!("/jobs/{id}")).await.body;
    assert!(detail.contains("smtp down") && detail.contains("test-worker"));
    assert!(get(&app, "/queues").await.body.contains("Change limits"));
    assert!(get(&app, "/workers")
        .await
        .body
        .contains("<h1>Workers</h1>"));
    assert!(get(&app, "/cron").await.body.contains("No periodic jobs."));
    assert_eq!(get(&app, "/jobs/999999999").await.status, 404);
    assert_eq!(get(&app, "/nowhere").await.status, 404);
    assert!(
        !get(&app, "/jobs").await.body.contains("enqueue-form"),
        "enqueue is off by default"
    );
    let with_enqueue = crate::support::app(
        &db,
        WebOptions {
            enqueue: true,
            ..WebOptions::default()
        },
    );
    assert!(get(&with_enqueue, "/jobs")
        .await
        .body
        .contains("enqueue-form"));
    let js = get(&app, "/assets/app.js").await;
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

pub async fn prefix_mounts_everything(db: Db) {
    enqueue(&db, "q", "k", json!({})).await;
    let app = app(
        &db,
        WebOptions {
            prefix: "/backlog/".into(),
            ..WebOptions::default()
        },
    );
    assert_eq!(get(&app, "/backlog/api/queues").await.status, 200);
    assert_eq!(get(&app, "/backlog/health/live").await.status, 200);
    let page = get(&app, "/backlog/jobs").await.body;
    assert!(
        page.contains("href=\"/backlog/jobs?state=available\""),
        "{page}"
    );
    assert!(page.contains("src=\"/backlog/assets/app.js\""));
    assert_eq!(get(&app, "/api/queues").await.status, 404);
    let bad = backlog_web::router(
        backlog::Client::from_arc(db.clone()),
        WebOptions {
            prefix: "backlog".into(),
            ..WebOptions::default()
        },
    );
    assert!(bad.is_err());
}
