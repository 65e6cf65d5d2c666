//! `backlog enqueue`.

use std::time::Duration;

use anyhow::Context;
use backlog::{Backoff, Client, InsertOpts, OnConflict, Priority, UniqueArgs, UniqueOpts};
use chrono::{DateTime, Utc};
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
    #[arg(long, short, value_parser = crate::parse::priority)]
    priority: Option<Priority>,
    /// Run after this long: seconds, or 500ms, 30s, 5m, 2h, 1d.
    #[arg(long, value_parser = crate::parse::duration, conflicts_with = "run_at")]
    delay: Option<Duration>,
    /// Run at this time: RFC 3339 (2026-12-24T18:00:00Z) or +DURATION from now.
    #[arg(long, value_parser = crate::parse::time)]
    run_at: Option<DateTime<Utc>>,
    /// Attempts before the job is discarded.
    #[arg(long)]
    max_attempts: Option<i32>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A JSON object stored with the job (searchable: `jobs list --metadata key=value`).
    #[arg(long)]
    metadata: Option<String>,
    /// A searchable, non-unique identifier.
    #[arg(long)]
    fingerprint: Option<String>,
    /// Longest one attempt may run (overrides the worker's): seconds, or 30s, 5m...
    #[arg(long, value_parser = crate::parse::duration)]
    timeout: Option<Duration>,
    /// Delay between retries (overrides the worker's): fixed:30s, linear:10s:5m or
    /// exponential:1s:1h.
    #[arg(long, value_parser = crate::parse::backoff)]
    backoff: Option<Backoff>,
    /// The fair-queue partition (a tenant, a customer): the queue's claims rotate over keys.
    #[arg(long)]
    partition_key: Option<String>,
    /// Discard the job instead of starting it after this time: RFC 3339 or +DURATION.
    #[arg(long, value_parser = crate::parse::time)]
    expires_at: Option<DateTime<Utc>>,
    /// Unique among live jobs of its kind with the same args: a duplicate prints the live
    /// job's id and inserts nothing.
    #[arg(long)]
    unique: bool,
    /// With --unique: only these top-level args fields count (repeatable).
    #[arg(long = "unique-field", requires = "unique")]
    unique_fields: Vec<String>,
    /// With --unique: at most one job per period of the run time (e.g. 1h).
    #[arg(long, requires = "unique", value_parser = crate::parse::duration)]
    unique_period: Option<Duration>,
    /// With --unique: a duplicate that has not started is moved to this job's run time and
    /// args (debounce) instead of left alone.
    #[arg(long, requires = "unique")]
    replace: bool,
    /// An idempotency key (up to 255 bytes of printable ASCII): enqueueing again with the same
    /// key within its window prints the first job's id and inserts nothing. Retry a failed
    /// enqueue with the same key.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// How many seconds the idempotency key is remembered (default 86400: 24 hours).
    #[arg(long, requires = "idempotency_key")]
    idempotency_window: Option<u64>,
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
        opts = opts.run_after(delay);
    }
    if let Some(at) = args.run_at {
        opts = opts.run_at(at);
    }
    if let Some(metadata) = &args.metadata {
        let metadata: serde_json::Value = serde_json::from_str(metadata)
            .with_context(|| format!("--metadata is not valid JSON: `{metadata}`"))?;
        opts = opts.metadata(metadata);
    }
    if let Some(fingerprint) = args.fingerprint {
        opts = opts.fingerprint(fingerprint);
    }
    if let Some(timeout) = args.timeout {
        opts = opts.timeout(timeout);
    }
    if let Some(backoff) = args.backoff {
        opts = opts.backoff(backoff);
    }
    if let Some(key) = args.partition_key {
        opts = opts.partition_key(key);
    }
    if let Some(at) = args.expires_at {
        opts = opts.expires_at(at);
    }
    if args.unique {
        opts = opts.unique(UniqueOpts {
            by_args: if args.unique_fields.is_empty() {
                UniqueArgs::All
            } else {
                UniqueArgs::Fields(args.unique_fields)
            },
            period: args.unique_period,
            on_conflict: if args.replace {
                OnConflict::Replace
            } else {
                OnConflict::Skip
            },
            ..UniqueOpts::default()
        });
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
        match &args.idempotency_key {
            Some(key) => eprintln!(
                "job {} was already enqueued with idempotency key {key:?}; nothing inserted",
                outcome.id
            ),
            None => eprintln!(
                "job {} is a live duplicate of this unique job; nothing inserted{}",
                outcome.id,
                if args.replace {
                    " (moved to this job's run time and args if it had not started)"
                } else {
                    ""
                }
            ),
        }
    }
    println!("{}", outcome.id);
    Ok(())
}
