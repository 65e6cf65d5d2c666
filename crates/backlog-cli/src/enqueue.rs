//! `backlog enqueue`.

use std::time::Duration;

use anyhow::Context;
use backlog::{Client, InsertOpts, Priority};
use clap::Args;

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The job kind, e.g. `send_email`.
    kind: String,
    /// The job's arguments as JSON.
    #[arg(long, default_value = "{}")]
    args: String,
    /// The queue.
    #[arg(long, short)]
    queue: Option<String>,
    /// `high`, `normal`, `low` or an integer (higher runs first).
    #[arg(long, short, value_parser = parse_priority)]
    priority: Option<Priority>,
    /// Run after this many seconds.
    #[arg(long)]
    delay: Option<f64>,
    /// Attempts before the job is discarded.
    #[arg(long)]
    max_attempts: Option<i32>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// An idempotency key (up to 255 bytes of printable ASCII): enqueueing again with the same
    /// key within its window prints the first job's id and inserts nothing. Retry a failed
    /// enqueue with the same key.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// How many seconds the idempotency key is remembered (default 86400: 24 hours).
    #[arg(long, requires = "idempotency_key")]
    idempotency_window: Option<u64>,
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).ok_or_else(|| {
        format!("`{s}` is not a priority: use high, normal, low or an integer from -32768 to 32767")
    })
}

pub async fn run(args: EnqueueArgs) -> anyhow::Result<()> {
    let json: serde_json::Value = serde_json::from_str(&args.args)
        .with_context(|| format!("--args is not valid JSON: `{}`", args.args))?;
    let mut opts = InsertOpts::new();
    if let Some(q) = args.queue {
        opts = opts.queue(q);
    }
    if let Some(p) = args.priority {
        opts = opts.priority(p);
    }
    if let Some(delay) = args.delay {
        let delay = Duration::try_from_secs_f64(delay).map_err(|_| {
            anyhow::anyhow!("--delay must be a non-negative number of seconds, got {delay}")
        })?;
        opts = opts.run_after(delay);
    }
    if let Some(m) = args.max_attempts {
        opts = opts.max_attempts(m);
    }
    for tag in args.tags {
        opts = opts.tag(tag);
    }
    if let Some(key) = &args.idempotency_key {
        opts = opts.idempotency_key(key.clone());
    }
    if let Some(secs) = args.idempotency_window {
        opts = opts.idempotency_window(Duration::from_secs(secs));
    }
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage);
    let job = client.prepare_raw(&args.kind, json, opts)?;
    let outcome = client
        .insert_prepared(vec![job])
        .await?
        .into_iter()
        .next()
        .context("the insert returned no job")?;
    if outcome.duplicate {
        if let Some(key) = &args.idempotency_key {
            eprintln!(
                "job {} was already enqueued with idempotency key {key:?}; nothing inserted",
                outcome.id
            );
        }
    }
    println!("{}", outcome.id);
    Ok(())
}
