//! A job enqueued by a short-lived `backlog` command wakes workers in other processes at once.
//! On PostgreSQL the command waits for its `NOTIFY` before exiting (without that, the wake-up
//! died with the process and workers found the job only at their next poll); on SQLite the
//! workers' process watches the file for jobs it did not insert, and for the signals other
//! processes write (a cancellation, a resumed queue, a resigned leader).

mod support;

use std::process::Command;
use std::time::Duration;

use backlog::postgres::{PgConfig, PgStorage};
use backlog::storage::Event;
use backlog::Storage;

/// Runs `backlog enqueue send --queue QUEUE` with `database` (its flags) in a process of its own
/// and waits for it to exit.
fn enqueue_send(queue: &str, database: &[&str]) {
    backlog(&["enqueue", "send", "--queue", queue], database);
}

/// Runs `backlog ARGS…` with `database` (its flags) in a process of its own and waits for it to
/// exit successfully.
fn backlog(args: &[&str], database: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args(args)
        .args(database)
        .env_remove("BACKLOG_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_enqueue_wakes_listeners_in_other_processes() {
    let url = std::env::var("BACKLOG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/backlog_test".to_owned());
    let schema = format!("bt_wake_{:016x}", fastrand::u64(..));
    let listener = PgStorage::connect(
        &url,
        PgConfig {
            schema: schema.clone(),
            ..PgConfig::default()
        },
    )
    .await
    .expect("PostgreSQL (BACKLOG_TEST_DATABASE_URL)");
    backlog::migrate_up(&listener).await.unwrap();
    let mut events = listener.event_subscribe().await.unwrap();

    for queue in ["mail", "reports"] {
        enqueue_send(queue, &["--database", &url, "--schema", &schema]);
        // The command has exited; its wake-up must already be on its way.
        let woken = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.recv().await {
                    Ok(Event::JobAvailable { queue: q }) if q == queue => return,
                    Ok(_) => continue,
                    Err(e) => panic!("event stream failed: {e}"),
                }
            }
        })
        .await;
        assert!(woken.is_ok(), "no wake-up for queue {queue} within 5 s");
    }
    drop(events);
    let client = listener.pool().get().await.unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Send {}

impl backlog::JobArgs for Send {
    const KIND: &'static str = "send";
}

struct Sender;

impl backlog::Worker for Sender {
    type Args = Send;
    async fn work(&self, _job: backlog::Job<Send>) -> Result<(), backlog::JobError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_enqueue_on_sqlite_starts_a_job_in_another_process_without_a_poll() {
    let storage = backlog::sqlite::testing::test_storage().await.unwrap();
    let path = storage.path().to_owned();
    // Polls once an hour: the job can only start this test in time by a wake-up.
    let runner = backlog::Runner::builder(storage, backlog::Workers::new().register(Sender))
        .queue("mail", 4)
        .configure(|c| c.poll_interval = Duration::from_secs(3600))
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    enqueue_send(
        "mail",
        &["--database", &format!("sqlite://{}", path.display())],
    );
    let ran = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    let event = ran.expect("the job did not run within 10 s").unwrap();
    assert_eq!(event.kind, "send");
    assert_eq!(event.state, Some(backlog::JobState::Completed));
    runner.shutdown(Duration::from_secs(5)).await;
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wait {}

impl backlog::JobArgs for Wait {
    const KIND: &'static str = "wait";
}

/// Tells the test which job started, then runs until its cancellation is requested.
struct Waiter(tokio::sync::mpsc::UnboundedSender<backlog::JobId>);

impl backlog::Worker for Waiter {
    type Args = Wait;
    async fn work(&self, job: backlog::Job<Wait>) -> Result<(), backlog::JobError> {
        let _ = self.0.send(job.id);
        job.cancelled().await;
        Err(backlog::JobError::retry("cancelled"))
    }
}

/// A runner on the SQLite file of `storage` that hears of other processes only through
/// wake-ups: it polls for jobs once an hour, never polls for cancellations, and renews leases
/// once every twenty minutes.
fn runner_without_polls(
    storage: backlog::sqlite::SqliteStorage,
    workers: backlog::Workers,
) -> backlog::Runner {
    backlog::Runner::builder(storage, workers)
        .queue("default", 4)
        .configure(|c| {
            c.poll_interval = Duration::from_secs(3600);
            c.cancel_poll_interval = None;
            c.lease = Duration::from_secs(3600);
            c.maintenance = false;
        })
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_cancel_on_sqlite_stops_a_job_running_in_another_process() {
    let storage = backlog::sqlite::testing::test_storage().await.unwrap();
    let database = format!("sqlite://{}", storage.path().display());
    let client = backlog::Client::new(storage.clone());
    let (started, mut running) = tokio::sync::mpsc::unbounded_channel();
    let runner = runner_without_polls(storage, backlog::Workers::new().register(Waiter(started)));
    let mut events = runner.subscribe();
    let id = client.enqueue(Wait {}).await.unwrap();
    assert_eq!(running.recv().await, Some(id));

    backlog(
        &["jobs", "cancel", &id.to_string()],
        &["--database", &database],
    );
    let ended = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    let event = ended
        .expect("the job was not cancelled within 10 s")
        .unwrap();
    assert_eq!(event.id, id);
    assert_eq!(event.state, Some(backlog::JobState::Cancelled));
    runner.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_resume_on_sqlite_starts_the_queue_in_another_process() {
    let storage = backlog::sqlite::testing::test_storage().await.unwrap();
    let database = format!("sqlite://{}", storage.path().display());
    let client = backlog::Client::new(storage.clone());
    client.queue_pause("default").await.unwrap();
    let runner = runner_without_polls(storage, backlog::Workers::new().register(Sender));
    let mut events = runner.subscribe();
    let id = client.enqueue(Send {}).await.unwrap();

    backlog(&["queues", "resume", "default"], &["--database", &database]);
    let ran = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    let event = ran.expect("the job did not run within 10 s").unwrap();
    assert_eq!(event.id, id);
    assert_eq!(event.state, Some(backlog::JobState::Completed));
    runner.shutdown(Duration::from_secs(5)).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopping_on_sqlite_tells_other_processes_it_resigned() {
    use std::io::BufRead;

    let storage = backlog::sqlite::testing::test_storage().await.unwrap();
    let database = format!("sqlite://{}", storage.path().display());
    let mut server = Command::new(env!("CARGO_BIN_EXE_backlog"))
        .args([
            "-v",
            "serve",
            "--http",
            "127.0.0.1:0",
            "--database",
            &database,
        ])
        .env_remove("BACKLOG_DATABASE_URL")
        .env_remove("BACKLOG_WEB_PASSWORD")
        .env_remove("BACKLOG_HTTP")
        .env_remove("BACKLOG_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The server logs its election (`-v`); the rest of its log is drained so it never blocks.
    let log = server.stderr.take().unwrap();
    let (elected, election) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(log).lines().map_while(Result::ok) {
            if line.contains("elected leader") {
                let _ = elected.send(());
            }
        }
    });
    election
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not lead within 10 s");
    let lease = backlog::maintenance::MAINTENANCE_LEASE;
    assert!(storage.leader_get(lease).await.unwrap().is_some());

    // What followers in this process hear (they then try to take over at once, rather than
    // when the lease runs out).
    let mut events = storage.event_subscribe().await.unwrap();
    support::signal_and_expect_clean_exit(&mut server, "TERM");
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await.unwrap() {
                Event::LeaderResigned { name } if name == lease => return,
                _ => continue,
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "no resignation heard within 10 s");
    assert_eq!(storage.leader_get(lease).await.unwrap(), None);
}
