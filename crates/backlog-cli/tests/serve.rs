//! `backlog serve` end to end: refuses an exposed address without authentication, serves the
//! API on a temporary SQLite file, and stops gracefully on SIGTERM, also one sent while it starts.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn backlog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backlog"));
    c.env_remove("BACKLOG_DATABASE_URL")
        .env_remove("BACKLOG_WEB_PASSWORD")
        .env_remove("BACKLOG_HTTP");
    c
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Starts `backlog serve --migrate` on a SQLite file in a new temporary directory, on a free
/// port; returns the directory, the process and its stdout's lines.
#[cfg(unix)]
fn serve_temporary_file() -> (
    std::path::PathBuf,
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let dir = std::env::temp_dir().join(format!("backlog-serve-test-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("jobs.sqlite3").display());
    let mut child = backlog()
        .args([
            "serve",
            "--migrate",
            "--http",
            "127.0.0.1:0",
            "--database",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (dir, child, lines)
}

/// Sends SIGTERM to `child` and checks that it exits successfully after saying it stopped.
#[cfg(unix)]
fn stops_cleanly_on_sigterm(
    mut child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    support::signal_and_expect_clean_exit(&mut child, "TERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l == "Backlog server stopped"),
        "{rest:?}"
    );
}

#[test]
fn exposed_address_without_password_is_refused() {
    let out = backlog()
        .args([
            "serve",
            "--http",
            "0.0.0.0:0",
            "--database",
            "sqlite:///nonexistent/x.db",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without authentication") && err.contains("--password"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn serves_and_stops_on_sigterm() {
    let (dir, child, mut lines) = serve_temporary_file();
    // The server prints its address once it listens.
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("Dashboard: http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    let ready = http_get(&addr, "/health/ready");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let page = http_get(&addr, "/");
    assert!(page.contains("content-security-policy"), "{page}");
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");

    stops_cleanly_on_sigterm(child, lines);
    let _ = std::fs::remove_dir_all(dir);
}

/// A SIGTERM that arrives while the server is still starting (its database open, its HTTP
/// listener not yet bound) stops it as cleanly as one that arrives later: the handlers are in
/// before the server says it is serving, so the signal never falls to its default action.
#[cfg(unix)]
#[test]
fn stops_cleanly_on_a_sigterm_during_start() {
    let (dir, child, mut lines) = serve_temporary_file();
    let first = lines.next().expect("the server printed a line").unwrap();
    assert!(first.starts_with("Backlog serving "), "{first}");
    stops_cleanly_on_sigterm(child, lines);
    let _ = std::fs::remove_dir_all(dir);
}
