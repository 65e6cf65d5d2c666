//! `backlog jobs`.

use anyhow::{bail, Context};
use backlog::storage::{JobSearchParams, JsonMatch};
use backlog::{Client, JobFilter, JobId, JobRow, JobState, Priority, Reschedule};
use chrono::{DateTime, Utc};
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
    /// List jobs, newest first, e.g.
    /// `backlog jobs list --state discarded --tag billing --metadata tenant=acme`.
    List {
        /// Only jobs in this state (repeatable).
        #[arg(long = "state", value_parser = parse_state)]
        states: Vec<JobState>,
        /// Only jobs of this queue (repeatable).
        #[arg(long = "queue")]
        queues: Vec<String>,
        /// Only jobs of this kind (repeatable).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Only jobs carrying this tag (repeatable: every one).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only jobs whose metadata holds VALUE at PATH: `PATH=VALUE`, PATH dot-separated keys
        /// (`tenant=acme`, `request.id=42`).
        #[arg(long, value_parser = parse_json_match)]
        metadata: Option<JsonMatch>,
        /// Only jobs whose args hold VALUE at PATH: `PATH=VALUE` (`user.id=42`).
        #[arg(long, value_parser = parse_json_match)]
        args: Option<JsonMatch>,
        /// Only jobs of this priority: high, normal, low or a number.
        #[arg(long, value_parser = crate::parse::priority)]
        priority: Option<Priority>,
        /// Only jobs enqueued at or after this time: RFC 3339.
        #[arg(long, value_parser = crate::parse::time)]
        since: Option<DateTime<Utc>>,
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
    /// cancellation request that their worker sees within milliseconds (`NOTIFY` on PostgreSQL,
    /// the file's watcher on SQLite; polled every second as a fallback), and their attempt ends
    /// `cancelled`.
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
    /// Delete jobs for good, by id and/or filter — any state but running (cancel a running job
    /// first); jobs of a workflow or batch are left (cancel them instead). With a filter, the
    /// matching jobs are counted and you are asked to confirm (or pass --yes), e.g.
    /// `backlog jobs delete --queue imports --state scheduled`.
    Delete {
        #[command(flatten)]
        filter: FilterArgs,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Move waiting jobs (available, scheduled, retryable), by id and/or filter, to a new run
    /// time, priority and/or queue, e.g. `backlog jobs reschedule 42 --run-at +1h` or
    /// `backlog jobs reschedule --queue emails --priority high`.
    Reschedule {
        #[command(flatten)]
        filter: FilterArgs,
        /// The new run time: RFC 3339, +DURATION from now, or `now`.
        #[arg(long, value_parser = crate::parse::time)]
        run_at: Option<DateTime<Utc>>,
        /// The new priority: high, normal, low or a number.
        #[arg(long, value_parser = crate::parse::priority)]
        priority: Option<Priority>,
        /// The new queue.
        #[arg(long = "to-queue")]
        to_queue: Option<String>,
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

fn parse_json_match(s: &str) -> Result<JsonMatch, String> {
    let (path, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected PATH=VALUE, e.g. tenant=acme or user.id=42"))?;
    JsonMatch::parse(path, value)
}

/// Asks `question` on stderr and reads y/yes from stdin; `false` on anything else or EOF.
pub(crate) fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// How many jobs in `states` match `filter` (counted before a bulk delete).
pub(crate) async fn count_matching(
    client: &Client,
    filter: &JobFilter,
    states: &[JobState],
) -> anyhow::Result<usize> {
    let mut count = 0;
    let mut before = None;
    loop {
        let page = client
            .storage()
            .job_search(JobSearchParams {
                ids: filter.ids.clone(),
                states: filter.states_among(states),
                queues: filter.queue.iter().cloned().collect(),
                kinds: filter.kind.iter().cloned().collect(),
                before_id: before,
                limit: 1_000,
                ..Default::default()
            })
            .await
            .context("could not count the matching jobs")?;
        count += page.iter().filter(|j| j.state != JobState::Running).count();
        match page.last() {
            Some(last) if page.len() == 1_000 => before = Some(last.id),
            _ => return Ok(count),
        }
    }
}

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        Action::List {
            states,
            queues,
            kinds,
            tags,
            metadata,
            args,
            priority,
            since,
            before,
            limit,
            fingerprint,
            json,
        } => {
            let rows = client
                .storage()
                .job_search(JobSearchParams {
                    states,
                    queues,
                    kinds,
                    tags,
                    metadata,
                    args,
                    priority: priority.map(|p| p.0),
                    created_after: since,
                    before_id: before,
                    limit,
                    fingerprint,
                    ..Default::default()
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
        Action::Delete { filter, yes } => {
            let by_filter = filter.queue.is_some() || filter.kind.is_some() || !filter.states.is_empty();
            let filter = filter.into_filter()?;
            if by_filter && !yes {
                let n = count_matching(&client, &filter, &backlog::storage::DELETABLE_STATES).await?;
                if n == 0 {
                    println!("no job matches; nothing deleted");
                    return Ok(());
                }
                if !confirm(&format!("delete {n} job(s) for good?")) {
                    bail!("not confirmed; nothing deleted (pass --yes to skip the question)");
                }
            }
            let ids = filter.ids.clone();
            let done = client
                .job_delete_by_filter(filter)
                .await
                .context("could not delete")?;
            println!("deleted: {}", done.len());
            report(
                "deleted",
                &ids,
                &done,
                "it is running, belongs to a workflow or batch, or does not exist",
            );
        }
        Action::Reschedule {
            filter,
            run_at,
            priority,
            to_queue,
        } => {
            if run_at.is_none() && priority.is_none() && to_queue.is_none() {
                bail!("give at least one of --run-at, --priority, --to-queue");
            }
            let filter = filter.into_filter()?;
            let ids = filter.ids.clone();
            let done = client
                .job_reschedule_by_filter(
                    filter,
                    Reschedule {
                        run_at,
                        priority,
                        queue: to_queue,
                    },
                )
                .await
                .context("could not reschedule")?;
            println!("rescheduled: {}", done.len());
            report(
                "rescheduled",
                &ids,
                &done,
                "it is running, finished, or does not exist",
            );
        }
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
