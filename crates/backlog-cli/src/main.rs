//! `backlog`: the command-line tool of Backlog. It is the only place that picks a backend from
//! a URL and the only place with opaque (`anyhow`) errors: every error is printed as one line
//! and the exit code is non-zero.

mod bench;
mod cli;
mod cron;
mod database;
mod demo;
mod disposable;
mod enqueue;
mod jobs;
mod migrate;
mod parse;
mod percentiles;
mod queues;
mod serve;
#[cfg(feature = "server")]
mod serve_zmq;
mod workflows;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BACKLOG_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if cli.verbose { "info" } else { "error" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    quiet_job_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Panics inside jobs are caught by the runtime and recorded as failed attempts; printing each
/// one with a backtrace would bury the output. They are logged (visible with `-v`) instead;
/// panics on the main thread are still printed.
fn quiet_job_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            default(info);
        } else {
            tracing::warn!("{info}");
        }
    }));
}

/// The error and its causes on one line, without repeating a cause already in the message.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line.replace('\n', " ")
}
