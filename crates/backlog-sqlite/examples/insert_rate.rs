//! A quick insert-rate check: `cargo run -p backlog-sqlite --release --example insert_rate`.
//!
//! Measures single-job enqueues from many concurrent tasks (where group commit shares one fsync
//! between them) and batched enqueues, with `synchronous=FULL`.

use std::sync::Arc;
use std::time::Instant;

use backlog_sqlite::{SqliteConfig, SqliteStorage};
use backlog_storage::{
    JobInsert, JobInsertManyParams, MigrationDirection, MigrationRunParams, Storage,
};

fn jobs(n: usize) -> JobInsertManyParams {
    JobInsertManyParams {
        jobs: (0..n)
            .map(|i| JobInsert::new("default", "bench", serde_json::json!({ "i": i })))
            .collect(),
    }
}

#[tokio::main]
async fn main() -> Result<(), backlog_storage::Error> {
    let dir = std::env::temp_dir().join(format!("backlog-insert-rate-{}", fastrand::u64(..)));
    let storage =
        Arc::new(SqliteStorage::open(dir.join("bench.db"), SqliteConfig::default()).await?);
    storage
        .migration_run(MigrationRunParams {
            direction: MigrationDirection::Up,
            target: None,
        })
        .await?;

    for tasks in [1, 16, 64] {
        let per_task = 2000 / tasks;
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let storage = Arc::clone(&storage);
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        storage.job_insert_many(jobs(1)).await?;
                    }
                    Ok::<_, backlog_storage::Error>(())
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task")?;
        }
        let rate = (tasks * per_task) as f64 / start.elapsed().as_secs_f64();
        println!("{tasks:>3} tasks, single-job inserts: {rate:>9.0} jobs/s");
    }

    let start = Instant::now();
    for _ in 0..20 {
        storage.job_insert_many(jobs(1000)).await?;
    }
    let rate = 20_000.0 / start.elapsed().as_secs_f64();
    println!("batches of 1000:                 {rate:>9.0} jobs/s");

    drop(storage);
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
