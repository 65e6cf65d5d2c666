//! `backlog jobs`.

use anyhow::{bail, Context};
use backlog::{Client, JobFilter, JobId, JobListParams, JobRow, JobState};
use clap::{Args, Subcommand};

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state (repeatable).
        #[arg(long = "state", value_parser = parse_state)]
        states: Vec<JobState>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        /// Only jobs with an id below this one (next page).
        #[arg(long)]
        before: Option<JobId>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only jobs enqueued with this fingerprint.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one job with its full history, as JSON.
    Show { id: JobId },
    /// Cancel jobs by id and/or filter: waiting jobs are cancelled at once; running jobs get a
    /// cancellation request that their worker sees within a second (same process or
    /// PostgreSQL; polled every second otherwise), and their attempt ends `cancelled`.
    ///
    /// Give ids, a filter, or both (every criterion must match), e.g.
    /// `backlog jobs cancel --queue emails --kind send_email --state scheduled`.
    Cancel {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Run jobs again now, by id and/or filter (default states: scheduled, retryable and the
    /// finished ones; a discarded job gets one more attempt), e.g.
    /// `backlog jobs retry --state discarded --queue emails`.
    Retry {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Delete finished jobs (completed, cancelled, discarded) for good, e.g. dead letters.
    Purge {
        #[arg(required = true)]
        ids: Vec<JobId>,
    },
    /// Count jobs per queue and state.
    Stats,
}

/// Which jobs `cancel` and `retry` apply to. At least one of ids or a filter is required.
#[derive(Debug, Args)]
struct FilterArgs {
    /// Job ids.
    ids: Vec<JobId>,
    /// Only jobs of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only jobs of this kind.
    #[arg(long)]
    kind: Option<String>,
    /// Only jobs in this state (repeatable).
    #[arg(long = "state", value_parser = parse_state)]
    states: Vec<JobState>,
}

impl FilterArgs {
    fn into_filter(self) -> anyhow::Result<JobFilter> {
        let filter = JobFilter {
            ids: self.ids,
            queue: self.queue,
            kind: self.kind,
            states: self.states,
        };
        if filter.is_empty() {
            bail!("give job ids or at least one of --queue, --kind, --state");
        }
        Ok(filter)
    }
}

fn parse_state(s: &str) -> Result<JobState, String> {
    s.parse::<JobState>().map_err(|e| e.to_string())
}

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        Action::List {
            states,
            queue,
            kind,
            before,
            limit,
            fingerprint,
            json,
        } => {
            let rows = client
                .job_list(JobListParams {
                    states,
                    queue,
                    kind,
                    before_id: before,
                    limit,
                    fingerprint,
                })
                .await
                .context("could not list jobs")?;
            if json {
                for row in rows {
                    println!("{}", serde_json::to_string(&row)?);
                }
            } else {
                print_table(&rows);
            }
        }
        Action::Show { id } => match client.job_get(id).await.context("could not read the job")? {
            Some(row) => println!("{}", serde_json::to_string_pretty(&row)?),
            None => match client.job_archive_get(id).await.context("could not read the archive")? {
                Some(row) => {
                    eprintln!("job {id} is archived (moved out of the job table by the cleaner)");
                    println!("{}", serde_json::to_string_pretty(&row)?)
                }
                None => bail!("no job with id {id} (it may have been deleted by the cleaner after its retention)"),
            },
        },
        Action::Purge { ids } => {
            let done = client.job_purge_many(ids.clone()).await.context("could not purge")?;
            report("purged", &ids, &done, "it is not finished, or does not exist");
        }
        Action::Cancel { filter } => {
            let filter = filter.into_filter()?;
            let ids = filter.ids.clone();
            let result = client
                .job_cancel_by_filter(filter)
                .await
                .context("could not cancel")?;
            println!(
                "cancelled: {}, cancellation requested (running): {}",
                result.cancelled.len(),
                result.cancel_requested.len()
            );
            let done: Vec<JobId> = result
                .cancelled
                .iter()
                .chain(&result.cancel_requested)
                .copied()
                .collect();
            report(
                "cancelled",
                &ids,
                &done,
                "it already finished or does not exist",
            );
        }
        Action::Retry { filter } => {
            let filter = filter.into_filter()?;
            let ids = filter.ids.clone();
            let done = client
                .job_retry_by_filter(filter)
                .await
                .context("could not retry")?;
            println!("retried: {}", done.len());
            report(
                "retried",
                &ids,
                &done,
                "it is running, already available, or does not exist",
            );
        }
        Action::Stats => {
            let mut counts = db
                .storage
                .job_count_by_state()
                .await
                .context("could not count jobs")?;
            counts.sort_by(|a, b| (&a.queue, a.state).cmp(&(&b.queue, b.state)));
            println!("{:<20} {:<10} {:>10}", "queue", "state", "jobs");
            for c in counts {
                println!("{:<20} {:<10} {:>10}", c.queue, c.state, c.count);
            }
        }
    }
    Ok(())
}

fn report(verb: &str, asked: &[JobId], done: &[JobId], why_not: &str) {
    for id in asked {
        if done.contains(id) {
            println!("{id}: {verb}");
        } else {
            println!("{id}: not {verb} ({why_not})");
        }
    }
}

fn print_table(rows: &[JobRow]) {
    println!(
        "{:>10}  {:<10} {:<14} {:<20} {:>4} {:>7}  scheduled_at",
        "id", "state", "queue", "kind", "prio", "attempt"
    );
    for r in rows {
        println!(
            "{:>10}  {:<10} {:<14} {:<20} {:>4} {:>3}/{:<3}  {}",
            r.id,
            r.state,
            r.queue,
            r.kind,
            r.priority,
            r.attempt,
            r.max_attempts,
            r.scheduled_at.format("%Y-%m-%d %H:%M:%S%.3f")
        );
    }
}
