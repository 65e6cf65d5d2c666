//! The `backlog` binary end to end on a temporary SQLite file (and PostgreSQL for `migrate`).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

fn backlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args(args)
        .env_remove("BACKLOG_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_db() -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("backlog-cli-test-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("jobs.sqlite3").display());
    (dir, url)
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["migrate", "--help"],
        vec!["demo", "--help"],
        vec!["enqueue", "--help"],
        vec!["jobs", "--help"],
        vec!["jobs", "list", "--help"],
        vec!["jobs", "delete", "--help"],
        vec!["jobs", "reschedule", "--help"],
        vec!["queues", "clear", "--help"],
        vec!["bench", "--help"],
        vec!["workflows", "--help"],
        vec!["batches", "show", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = backlog(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn migrate_enqueue_list_show_cancel_retry() {
    let (dir, url) = temp_db();
    let out = backlog(&["migrate", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applied migration(s) 1"),
        "{}",
        stdout(&out)
    );
    let list = backlog(&["migrate", "list", "--database", &url]);
    assert!(stdout(&list).contains("init"));

    let out = backlog(&[
        "enqueue",
        "send_email",
        "--args",
        r#"{"to":"a@b.c"}"#,
        "--queue",
        "emails",
        "--priority",
        "high",
        "--database",
        &url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert_eq!(id, "1");

    let out = backlog(&["jobs", "list", "--database", &url]);
    let table = stdout(&out);
    assert!(
        table.contains("send_email") && table.contains("emails") && table.contains("available"),
        "{table}"
    );

    let out = backlog(&["jobs", "show", &id, "--database", &url]);
    let job: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(job["args"]["to"], "a@b.c");
    assert_eq!(job["priority"], 10);

    let out = backlog(&["jobs", "cancel", &id, "--database", &url]);
    assert!(stdout(&out).contains("1: cancelled"), "{}", stdout(&out));
    let out = backlog(&["jobs", "retry", &id, "999", "--database", &url]);
    let text = stdout(&out);
    assert!(
        text.contains("1: retried") && text.contains("999: not retried"),
        "{text}"
    );
    let out = backlog(&["jobs", "stats", "--database", &url]);
    assert!(stdout(&out).contains("available"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_is_one_clear_line_and_a_failure() {
    let (dir, url) = temp_db();
    assert!(backlog(&["migrate", "--database", &url]).status.success());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["enqueue", "k", "--args", "{not json", "--database", &url],
            "--args is not valid JSON",
        ),
        (
            vec!["enqueue", "k", "--queue", "Bad Queue", "--database", &url],
            "invalid queue name `Bad Queue`",
        ),
        (
            vec!["enqueue", "has space", "--database", &url],
            "invalid job kind",
        ),
        (
            vec!["enqueue", "k", "--max-attempts", "0", "--database", &url],
            "max_attempts must be at least 1",
        ),
        (
            vec!["jobs", "show", "42", "--database", &url],
            "no job with id 42",
        ),
        (
            vec!["jobs", "list", "--database", "mysql://x"],
            "unsupported database URL",
        ),
    ];
    for (args, expected) in cases {
        let out = backlog(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: one line, got {err}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn argument_errors_say_what_is_wrong() {
    for (args, expected) in [
        (
            vec!["enqueue", "k", "--priority", "urgent"],
            "is not a priority",
        ),
        (vec!["jobs", "list", "--state", "done"], "unknown job state"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = backlog(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(
            err.lines().next().unwrap_or("").contains(expected),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn unmigrated_database_says_to_migrate() {
    let (dir, url) = temp_db();
    let out = backlog(&["jobs", "list", "--database", &url]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("backlog migrate"), "{}", stderr(&out));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unreachable_postgres_is_reported() {
    let out = backlog(&[
        "jobs",
        "list",
        "--database",
        "postgres://postgres@127.0.0.1:1/nothing",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("could not connect to PostgreSQL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn demo_runs_on_sqlite() {
    let (dir, url) = temp_db();
    let out = backlog(&["demo", "--jobs", "200", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "Jobs per state",
        "completed",
        "discarded",
        "throughput",
        "p50",
        "attempt duration",
    ] {
        assert!(text.contains(expected), "missing {expected}: {text}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A Ctrl-C (SIGINT) that arrives while the demo is still enqueueing interrupts it cleanly:
/// the handler is in before the demo says anything, so the signal never falls to its default
/// action. The demo stops its workers and still prints what it did.
#[cfg(unix)]
#[test]
fn demo_stops_cleanly_on_a_ctrl_c_during_start() {
    use std::io::{BufRead, BufReader};

    let (dir, url) = temp_db();
    let mut child = Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args(["demo", "--jobs", "100000", "--database", &url])
        .env_remove("BACKLOG_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the demo printed a line").unwrap();
    assert!(first.starts_with("Backlog demo on "), "{first}");
    support::signal_and_expect_clean_exit(&mut child, "INT");
    let text: Vec<String> = lines.map_while(Result::ok).collect();
    let text = text.join("\n");
    // Interrupted long before 100,000 jobs could finish: some are still waiting.
    assert!(text.contains("Jobs per state"), "{text}");
    assert!(text.contains("available"), "{text}");
    std::fs::remove_dir_all(dir).ok();
}

/// jobq's example over the wire: a server, worker processes, a remote producer; every 12th
/// job fails and is discarded, the rest complete, and the work is shared by the Rust workers.
#[cfg(feature = "server")]
#[test]
fn demo_over_the_server_runs_jobqs_example() {
    let (dir, url) = temp_db();
    let out = backlog(&["demo", "--server", "--jobs", "48", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let count = |state: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(state))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count of {state}: {text}"))
    };
    assert_eq!(count("completed"), 44, "{text}");
    assert_eq!(count("discarded"), 4, "{text}");
    for expected in [
        "Average duration per priority",
        "high",
        "normal",
        "rust-1",
        "rust-2",
    ] {
        assert!(text.contains(expected), "missing {expected}: {text}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Without the server feature, `demo --server` says how to get it.
#[cfg(not(feature = "server"))]
#[test]
fn demo_over_the_server_needs_the_feature() {
    let out = backlog(&["demo", "--server"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--features server"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn enqueue_with_an_idempotency_key_inserts_once() {
    let (dir, url) = temp_db();
    let out = backlog(&["migrate", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let enqueue = |key: &str| {
        backlog(&[
            "enqueue",
            "charge",
            "--idempotency-key",
            key,
            "--database",
            &url,
        ])
    };
    let first = enqueue("order-7");
    assert!(first.status.success(), "{}", stderr(&first));
    let again = enqueue("order-7");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), stdout(&first), "the same job id");
    assert!(
        stderr(&again).contains("already enqueued"),
        "{}",
        stderr(&again)
    );
    let bad = enqueue("has space");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("printable ASCII"), "{}", stderr(&bad));
    let out = backlog(&["jobs", "list", "--database", &url]);
    let table = stdout(&out);
    assert_eq!(table.matches("charge").count(), 1, "one job: {table}");
    std::fs::remove_dir_all(dir).ok();
}

/// `backlog workflows` and `backlog batches` on a workflow and a batch made with the library.
#[test]
fn workflows_and_batches_commands() {
    use backlog::storage::{
        BatchCreateParams, DependencyFailure, JobInsert, Storage, WorkflowDependency,
        WorkflowInsertParams,
    };
    let (dir, url) = temp_db();
    let out = backlog(&["migrate", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.join("jobs.sqlite3");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (workflow, batch) = runtime.block_on(async {
        let storage =
            backlog::sqlite::SqliteStorage::open(&path, backlog::sqlite::SqliteConfig::default())
                .await
                .unwrap();
        let workflow = storage
            .workflow_insert(WorkflowInsertParams {
                name: "etl".to_owned(),
                jobs: vec![
                    JobInsert::new("default", "extract", serde_json::json!({})),
                    JobInsert::new("default", "load", serde_json::json!({})),
                ],
                dependencies: vec![WorkflowDependency {
                    job: 1,
                    depends_on: 0,
                    on_failure: DependencyFailure::Cancel,
                }],
                idempotency_key: None,
            })
            .await
            .unwrap();
        let batch = storage
            .batch_create(BatchCreateParams {
                description: "import".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        (workflow, batch)
    });
    let id = workflow.id.to_string();

    let out = backlog(&["workflows", "list", "--database", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("etl"), "{}", stdout(&out));
    let out = backlog(&["workflows", "show", &id, "--json", "--database", &url]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(shown["waiting"], 1);
    assert_eq!(shown["jobs"][1]["depends_on"][0], workflow.job_ids[0]);

    let out = backlog(&["workflows", "cancel", &id, "--database", &url]);
    assert!(stdout(&out).contains("cancelled: 2"), "{}", stdout(&out));
    let out = backlog(&["workflows", "retry", &id, "--database", &url]);
    assert!(stdout(&out).contains("retried: 2"), "{}", stdout(&out));
    let out = backlog(&["workflows", "show", &id, "--database", &url]);
    let table = stdout(&out);
    assert!(
        table.contains("available=1") && table.contains("scheduled=1"),
        "{table}"
    );
    let out = backlog(&["workflows", "show", "999", "--database", &url]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no workflow with id 999"),
        "{}",
        stderr(&out)
    );

    let out = backlog(&["batches", "list", "--json", "--database", &url]);
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(line["id"], batch);
    assert_eq!(line["status"], "open");
    let out = backlog(&["batches", "show", &batch.to_string(), "--database", &url]);
    assert!(
        stdout(&out).contains("\"description\": \"import\""),
        "{}",
        stdout(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn enqueue_every_option_then_list_reschedule_delete_and_clear() {
    let (dir, url) = temp_db();
    assert!(backlog(&["migrate", "--database", &url]).status.success());
    let out = backlog(&[
        "enqueue",
        "--database",
        &url,
        "send_email",
        "--args",
        r#"{"to":"a@example.com"}"#,
        "--queue",
        "emails",
        "--priority",
        "high",
        "--run-at",
        "+1h",
        "--max-attempts",
        "3",
        "--tag",
        "welcome",
        "--metadata",
        r#"{"tenant":"acme"}"#,
        "--fingerprint",
        "user:1",
        "--timeout",
        "30s",
        "--backoff",
        "fixed:5s",
        "--expires-at",
        "+2h",
        "--unique",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let show = backlog(&["jobs", "--database", &url, "show", &id]);
    let job: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(job["state"], "scheduled");
    assert_eq!(job["priority"], 10);
    assert_eq!(job["timeout_ms"], 30_000);
    assert_eq!(job["backoff"]["delay_ms"], 5_000);
    assert!(job["expires_at"].is_string());
    assert_eq!(job["metadata"], serde_json::json!({"tenant": "acme"}));
    // The same unique job again: the live one's id, nothing inserted.
    let again = backlog(&[
        "enqueue",
        "--database",
        &url,
        "send_email",
        "--args",
        r#"{"to":"a@example.com"}"#,
        "--queue",
        "emails",
        "--unique",
    ]);
    assert_eq!(stdout(&again).trim(), id);
    assert!(stderr(&again).contains("duplicate"), "{}", stderr(&again));
    let other = backlog(&["enqueue", "--database", &url, "k", "--queue", "emails"]);
    let other = stdout(&other).trim().to_owned();

    // List by tag and by metadata.
    for filter in [["--tag", "welcome"], ["--metadata", "tenant=acme"]] {
        let list = backlog(&[
            "jobs",
            "--database",
            &url,
            "list",
            "--json",
            filter[0],
            filter[1],
        ]);
        let ids: Vec<String> = stdout(&list)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids, vec![id.clone()], "{filter:?}");
    }
    let bad = backlog(&["jobs", "--database", &url, "list", "--metadata", "tenant"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("PATH=VALUE"), "{}", stderr(&bad));

    // Reschedule: brought forward and moved to another queue.
    let out = backlog(&[
        "jobs",
        "--database",
        &url,
        "reschedule",
        &id,
        "--run-at",
        "now",
        "--to-queue",
        "later",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{id}: rescheduled")),
        "{}",
        stdout(&out)
    );
    let show = backlog(&["jobs", "--database", &url, "show", &id]);
    let job: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(
        (job["state"].as_str(), job["queue"].as_str()),
        (Some("available"), Some("later"))
    );

    // Delete by filter asks first; without an answer nothing is deleted.
    let out = backlog(&["jobs", "--database", &url, "delete", "--queue", "later"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("delete 1 job(s)"), "{}", stderr(&out));
    assert!(backlog(&["jobs", "--database", &url, "show", &id])
        .status
        .success());
    let out = backlog(&["jobs", "--database", &url, "delete", &id]);
    assert!(
        stdout(&out).contains(&format!("{id}: deleted")),
        "{}",
        stdout(&out)
    );
    assert!(!backlog(&["jobs", "--database", &url, "show", &id])
        .status
        .success());

    // Clear a queue.
    let out = backlog(&["queues", "--database", &url, "clear", "emails", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted 1 job(s)"),
        "{}",
        stdout(&out)
    );
    assert!(!backlog(&["jobs", "--database", &url, "show", &other])
        .status
        .success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn workflows_create_from_a_file() {
    let (dir, url) = temp_db();
    assert!(backlog(&["migrate", "--database", &url]).status.success());
    let file = dir.join("wf.json");
    std::fs::write(
        &file,
        r#"{"name": "nightly", "jobs": [
            {"id": "extract", "kind": "extract", "args": {"day": 1}, "queue": "etl", "priority": "high"},
            {"id": "transform", "kind": "transform", "after": ["extract"], "timeout": "5m"},
            {"kind": "load", "after": ["transform", 0], "on_failure": "run", "partition_key": "acme"}
        ]}"#,
    )
    .unwrap();
    let out = backlog(&[
        "workflows",
        "create",
        file.to_str().unwrap(),
        "--database",
        &url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let mut lines = printed.lines();
    let id = lines
        .next()
        .unwrap()
        .strip_prefix("workflow ")
        .unwrap()
        .to_owned();
    let jobs: Vec<&str> = lines.collect();
    assert_eq!(jobs.len(), 3, "{printed}");
    let out = backlog(&["workflows", "show", &id, "--json", "--database", &url]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(shown["name"], "nightly");
    assert_eq!(shown["waiting"], 2);
    let load = &shown["jobs"][2];
    assert_eq!(load["depends_on"].as_array().map(Vec::len), Some(2));
    let show = backlog(&["jobs", "--database", &url, "show", jobs[0]]);
    let job: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(
        (job["queue"].as_str(), job["priority"].as_i64()),
        (Some("etl"), Some(10))
    );

    // A cycle or an unknown dependency stores nothing and says what was wrong.
    std::fs::write(
        &file,
        r#"{"name": "bad", "jobs": [{"id": "a", "kind": "k", "after": ["b"]}, {"id": "b", "kind": "k", "after": ["a"]}]}"#,
    )
    .unwrap();
    let out = backlog(&[
        "workflows",
        "create",
        file.to_str().unwrap(),
        "--database",
        &url,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cycle"), "{}", stderr(&out));
    std::fs::write(
        &file,
        r#"{"name": "bad", "jobs": [{"kind": "k", "after": ["nope"]}]}"#,
    )
    .unwrap();
    let out = backlog(&[
        "workflows",
        "create",
        file.to_str().unwrap(),
        "--database",
        &url,
    ]);
    assert!(stderr(&out).contains("names no job"), "{}", stderr(&out));
    let out = backlog(&["workflows", "list", "--json", "--database", &url]);
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "only the good workflow is stored"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
