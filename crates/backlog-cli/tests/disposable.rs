//! `backlog demo` and `backlog bench` empty their database before running: on a database that
//! holds a user's job, cron schedule and paused queue they refuse, and that data survives.

use std::process::{Command, Output};

fn backlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args(args)
        .env_remove("BACKLOG_DATABASE_URL")
        .env_remove("BACKLOG_DEMO_DATABASE_URL")
        .env_remove("BACKLOG_BENCH_DATABASE_URL")
        .env_remove("BACKLOG_SCHEMA")
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let out = backlog(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

/// The `--database`/`--schema` arguments of a fresh target on each backend.
fn targets() -> Vec<Vec<String>> {
    let dir = std::env::temp_dir().join(format!("backlog-disposable-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}", dir.join("jobs.sqlite3").display());
    let pg = std::env::var("BACKLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/backlog_test".to_owned());
    let schema = format!("bt_cli_{:016x}", fastrand::u64(..));
    vec![
        vec!["--database".into(), sqlite],
        vec!["--database".into(), pg, "--schema".into(), schema],
    ]
}

fn with<'a>(args: &[&'a str], target: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(target.iter().map(String::as_str));
    all
}

/// A user's job (in a queue the demo also uses), cron schedule and paused queue.
fn add_user_data(target: &[String]) {
    ok(&with(&["migrate"], target));
    ok(&with(
        &[
            "enqueue",
            "invoice",
            "--args",
            r#"{"n":1}"#,
            "--queue",
            "default",
        ],
        target,
    ));
    ok(&with(
        &[
            "cron", "set", "nightly", "--kind", "report", "--every", "1h",
        ],
        target,
    ));
    ok(&with(&["queues", "pause", "billing"], target));
}

fn assert_user_data_survived(target: &[String]) {
    let jobs = ok(&with(&["jobs", "list"], target));
    assert!(jobs.contains("invoice"), "{jobs}");
    let crons = ok(&with(&["cron", "list"], target));
    assert!(crons.contains("nightly"), "{crons}");
    let queues = ok(&with(&["queues", "list"], target));
    assert!(queues.contains("billing"), "{queues}");
}

fn assert_refused(out: &Output, command: &str) {
    assert!(!out.status.success(), "{command} ran: {}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("refusing to run `backlog {command}`")) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn demo_and_bench_leave_a_users_data_alone() {
    for target in targets() {
        add_user_data(&target);
        let out = backlog(&with(&["demo", "--jobs", "20"], &target));
        assert_refused(&out, "demo");
        assert_user_data_survived(&target);
        let out = backlog(&with(
            &[
                "bench",
                "--scenario",
                "drain",
                "--jobs",
                "20",
                "--concurrency",
                "4",
            ],
            &target,
        ));
        assert_refused(&out, "bench");
        assert_user_data_survived(&target);
    }
}

#[test]
fn each_kind_of_foreign_data_is_noticed() {
    for target in targets() {
        ok(&with(&["migrate"], &target));
        // A job of another kind in one of the demo's queues.
        ok(&with(&["enqueue", "invoice", "--queue", "media"], &target));
        assert_refused(&backlog(&with(&["demo", "--jobs", "5"], &target)), "demo");
        assert!(ok(&with(&["jobs", "list"], &target)).contains("invoice"));
    }
    for target in targets() {
        ok(&with(&["migrate"], &target));
        // Settings of a queue the bench uses.
        ok(&with(&["queues", "pause", "bench"], &target));
        let bench = ["bench", "--scenario", "drain", "--jobs", "5"];
        assert_refused(&backlog(&with(&bench, &target)), "bench");
    }
}

#[test]
fn demo_reruns_on_its_own_data_and_force_overrides() {
    for target in targets() {
        ok(&with(&["demo", "--jobs", "20"], &target));
        // The demo's own leftovers are not a reason to refuse.
        ok(&with(&["demo", "--jobs", "20"], &target));
        ok(&with(&["enqueue", "invoice"], &target));
        assert_refused(&backlog(&with(&["demo", "--jobs", "20"], &target)), "demo");
        ok(&with(&["demo", "--jobs", "20", "--force"], &target));
        let jobs = ok(&with(&["jobs", "list"], &target));
        assert!(!jobs.contains("invoice"), "{jobs}");
    }
}
