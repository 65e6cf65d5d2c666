//! `Runner::run_until` and `Runner::run_until_signal`. This file holds a single test binary of
//! its own because it sends SIGTERM to its own process: the handler is installed before the
//! signal is sent, and no other test shares the process.

use std::time::Duration;

use backlog::{Client, Job, JobArgs, JobError, JobEvent, JobState, Runner, Worker, Workers};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Noop;

impl JobArgs for Noop {
    const KIND: &'static str = "noop";
}

struct NoopWorker;

impl Worker for NoopWorker {
    type Args = Noop;
    async fn work(&self, _job: Job<Noop>) -> Result<(), JobError> {
        Ok(())
    }
}

async fn started_runner() -> (Runner, Client) {
    let storage = backlog::testing::sqlite_storage().await.expect("sqlite");
    let client = Client::from_arc(storage.clone());
    let runner = Runner::builder(storage, Workers::new().register(NoopWorker))
        .queue("default", 2)
        .start()
        .expect("start");
    (runner, client)
}

/// Waits until the runner completed one job, so the runner is known to be working.
async fn one_job_completes(runner: &Runner, client: &Client) {
    let mut events = runner.subscribe();
    let id = client.enqueue(Noop).await.expect("enqueue");
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Ok(JobEvent {
                    id: done,
                    state: Some(JobState::Completed),
                    ..
                }) if done == id => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(error) => panic!("event stream ended: {error}"),
            }
        }
    })
    .await
    .expect("the job completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_stops_on_the_future_and_on_sigterm() {
    // Any future as the stop signal.
    let (runner, client) = started_runner().await;
    one_job_completes(&runner, &client).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run_until(
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(5),
    ));
    assert!(!running.is_finished());
    stop_tx.send(()).expect("send stop");
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("run_until returns after the stop future")
        .expect("no panic");

    // SIGTERM: the handlers are installed by the call itself, before the signal is sent.
    let (runner, client) = started_runner().await;
    one_job_completes(&runner, &client).await;
    let running = tokio::spawn(runner.run_until_signal(Duration::from_secs(5)));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("run_until_signal returns after SIGTERM")
        .expect("no panic")
        .expect("signal handlers installed");
}
