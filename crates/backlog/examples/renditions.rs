//! CPU-heavy jobs on a blocking pool (jobq's renditions): each job computes for a while
//! without awaiting, on a pool of threads sized apart from the runner's concurrency, while the
//! runner's heartbeats keep every lease alive. Prints how long each rendition took and how often
//! the lease was renewed while it computed.
//!
//! ```text
//! cargo run --release -p backlog --example renditions             # SQLite file in the temp dir
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::{
    BlockingPool, BlockingWorker, Client, Job, JobArgs, JobError, Runner, Storage, Workers,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Rendition {
    asset: u32,
    /// Rounds of work (stands in for pixels).
    rounds: u64,
}

impl JobArgs for Rendition {
    const KIND: &'static str = "rendition";
}

struct Renderer;

impl BlockingWorker for Renderer {
    type Args = Rendition;

    fn work(&self, job: Job<Rendition>) -> Result<(), JobError> {
        let began = Instant::now();
        let mut hash = u64::from(job.args.asset);
        for round in 0..job.args.rounds {
            if round % 1_000_000 == 0 && job.is_cancelled() {
                return Err(JobError::cancel("stopped between rounds"));
            }
            hash = hash.rotate_left(5) ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        println!(
            "asset {:>2}: rendered in {:>5} ms on {} (checksum {hash:016x})",
            job.args.asset,
            began.elapsed().as_millis(),
            std::thread::current().name().unwrap_or("?"),
        );
        Ok(())
    }

    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_secs(60))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path =
        std::env::temp_dir().join(format!("backlog-renditions-{}.sqlite3", std::process::id()));
    let storage: Arc<dyn Storage> =
        Arc::new(backlog::sqlite::SqliteStorage::open(&path, Default::default()).await?);
    backlog::migrate_up(&*storage).await?;

    // Two threads for the CPU work, whatever the queue's concurrency; the runtime itself has
    // one thread, and it stays free for heartbeats and completions.
    let pool = BlockingPool::new(2)?;
    let client = Client::from_arc(storage.clone());
    let jobs: Vec<_> = (0..8)
        .map(|asset| Rendition {
            asset,
            rounds: 300_000_000,
        })
        .collect();
    let ids = client.enqueue_many(jobs).await?;
    let runner = Runner::builder(
        storage.clone(),
        Workers::new().register_blocking(Renderer, &pool),
    )
    .queue("default", 16)
    .configure(|c| c.lease = Duration::from_secs(1))
    .start()?;
    let mut events = runner.subscribe();
    let began = Instant::now();
    let all_done = async {
        let mut done = 0;
        while done < ids.len() {
            match events.recv().await {
                Ok(event) if event.state.is_some_and(|s| s.is_finalized()) => done += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    runner.run_until(all_done, Duration::from_secs(10)).await;
    let mut rescued = 0;
    for id in &ids {
        if let Some(row) = storage.job_get(*id).await? {
            rescued += usize::from(row.attempt > 1);
        }
    }
    println!(
        "{} renditions in {:.1} s on {} blocking threads; rescued for lack of heartbeats: {rescued}",
        ids.len(),
        began.elapsed().as_secs_f64(),
        pool.threads()
    );
    drop(std::fs::remove_file(&path));
    Ok(())
}
