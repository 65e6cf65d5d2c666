//! The README's example: define a job, enqueue it, run a worker, shut down gracefully.
//!
//! ```text
//! cargo run -p backlog --example quickstart                      # SQLite file in the temp dir
//! BACKLOG_DATABASE_URL=postgres://postgres@127.0.0.1/app cargo run -p backlog --example quickstart
//! ```

use std::sync::Arc;
use std::time::Duration;

use backlog::{
    Client, InsertOpts, Job, JobArgs, JobError, JobState, Priority, Runner, Storage, Worker,
    Workers,
};
use serde::{Deserialize, Serialize};

/// The job's arguments: stored as JSON, readable with plain SQL.
#[derive(Serialize, Deserialize)]
struct SendWelcomeEmail {
    user_id: i64,
    address: String,
}

impl JobArgs for SendWelcomeEmail {
    const KIND: &'static str = "send_welcome_email";
}

/// The worker: shared by every job of its kind, so it can hold clients and pools.
struct Mailer {
    sender: String,
}

impl Worker for Mailer {
    type Args = SendWelcomeEmail;

    async fn work(&self, job: Job<SendWelcomeEmail>) -> Result<(), JobError> {
        if job.args.address.is_empty() {
            return Err(JobError::discard("no address: retrying will not help"));
        }
        println!(
            "{} -> {} (user {}, attempt {})",
            self.sender, job.args.address, job.args.user_id, job.attempt
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage: Arc<dyn Storage> = match std::env::var("BACKLOG_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            Arc::new(backlog::postgres::PgStorage::connect(&url, Default::default()).await?)
        }
        _ => {
            let path = std::env::temp_dir().join("backlog-quickstart.sqlite3");
            Arc::new(backlog::sqlite::SqliteStorage::open(path, Default::default()).await?)
        }
    };
    backlog::migrate_up(&*storage).await?;

    let client = Client::from_arc(storage.clone());
    let id = client
        .enqueue(SendWelcomeEmail {
            user_id: 42,
            address: "ada@example.com".into(),
        })
        .await?;
    client
        .enqueue_with(
            SendWelcomeEmail {
                user_id: 43,
                address: "grace@example.com".into(),
            },
            InsertOpts::new()
                .priority(Priority::HIGH)
                .run_after(Duration::from_millis(200)),
        )
        .await?;

    let runner = Runner::builder(
        storage,
        Workers::new().register(Mailer {
            sender: "hello@example.com".into(),
        }),
    )
    .queue("default", 10)
    .start()?;
    let mut events = runner.subscribe();
    let mut finished = 0;
    while finished < 2 {
        let event = events.recv().await?;
        if event.state == Some(JobState::Completed) {
            finished += 1;
        }
    }
    runner.shutdown(Duration::from_secs(10)).await;
    println!(
        "job {id} is {:?}",
        client.job_get(id).await?.map(|j| j.state)
    );
    Ok(())
}
