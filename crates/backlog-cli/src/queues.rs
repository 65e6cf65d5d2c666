//! `backlog queues`: list, pause, resume, limit and clear queues.

use anyhow::{bail, Context};
use backlog::{Client, JobState, QueueInfo, QueueUpdateParams, RateLimit};
use clap::{Args, Subcommand};

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct QueuesArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List queues (those with settings or jobs): paused or not, limits, jobs per state.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pause a queue on every worker sharing the database (within a second). Running jobs
    /// finish; no new job of the queue starts until it is resumed.
    Pause { queue: String },
    /// Resume a paused queue; its workers are woken at once.
    Resume { queue: String },
    /// Set or remove a queue's cluster-wide limits. Options not given are left unchanged.
    Limit {
        queue: String,
        /// Most jobs of the queue running at once across all workers; `none` removes the limit.
        #[arg(long, value_parser = parse_max_running)]
        max_running: Option<MaxRunning>,
        /// Most jobs started per period across all workers, as N/PERIOD with PERIOD one of
        /// `s`, `m`, `h` or a duration such as `10s`, `500ms`, `5m` (e.g. `100/s`, `20/10s`);
        /// `none` removes the limit.
        #[arg(long, value_parser = parse_rate)]
        rate: Option<Rate>,
        /// Most jobs of one partition key running at once across all workers (makes the queue
        /// fair); `none` removes the limit.
        #[arg(long, value_parser = parse_max_running)]
        per_key_max_running: Option<MaxRunning>,
    },
    /// Delete every job of a queue that is not running (waiting and finished ones; jobs of a
    /// workflow or batch are left: cancel them). Counts them and asks first, unless --yes.
    /// Pause the queue first to stop new jobs from starting while you clear it.
    Clear {
        queue: String,
        /// Only jobs in this state (repeatable), e.g. `--state scheduled`.
        #[arg(long = "state", value_parser = parse_state)]
        states: Vec<JobState>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

fn parse_state(s: &str) -> Result<JobState, String> {
    s.parse::<JobState>().map_err(|e| e.to_string())
}

/// `--max-running`: a number or `none`.
#[derive(Debug, Clone, Copy)]
struct MaxRunning(Option<u32>);

/// `--rate`: N/PERIOD or `none`.
#[derive(Debug, Clone, Copy)]
struct Rate(Option<RateLimit>);

fn parse_max_running(s: &str) -> Result<MaxRunning, String> {
    if s == "none" {
        return Ok(MaxRunning(None));
    }
    s.parse()
        .map(|n| MaxRunning(Some(n)))
        .map_err(|_| format!("`{s}` is not a number or `none`"))
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s == "none" {
        return Ok(Rate(None));
    }
    let (max, period) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected N/PERIOD, e.g. 100/s or 20/10s"))?;
    let max: u32 = max
        .parse()
        .ok()
        .filter(|m| *m > 0)
        .ok_or_else(|| format!("`{max}` is not a positive number"))?;
    let period = crate::parse::period(period).ok_or_else(|| {
        format!("`{period}` is not a period: use s, m, h or a duration such as 10s, 500ms, 5m")
    })?;
    Ok(Rate(Some(RateLimit { max, period })))
}

pub async fn run(args: QueuesArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        Action::List { json } => {
            let queues = client.queue_list().await.context("could not list queues")?;
            if json {
                for q in &queues {
                    println!("{}", serde_json::to_string(&to_json(q))?);
                }
            } else {
                print_table(&queues);
            }
        }
        Action::Pause { queue } => {
            client
                .queue_pause(&queue)
                .await
                .context("could not pause")?;
            println!("{queue}: paused");
        }
        Action::Resume { queue } => {
            let was_paused = client
                .queue_resume(&queue)
                .await
                .context("could not resume")?;
            println!(
                "{queue}: {}",
                if was_paused {
                    "resumed"
                } else {
                    "was not paused"
                }
            );
        }
        Action::Limit {
            queue,
            max_running,
            rate,
            per_key_max_running,
        } => {
            if max_running.is_none() && rate.is_none() && per_key_max_running.is_none() {
                bail!("nothing to change: give --max-running, --rate and/or --per-key-max-running");
            }
            let info = client
                .queue_update(QueueUpdateParams {
                    queue,
                    max_running: max_running.map(|m| m.0),
                    rate_limit: rate.map(|r| r.0),
                    partition_max_running: per_key_max_running.map(|m| m.0),
                })
                .await
                .context("could not change the limits")?;
            print_table(std::slice::from_ref(&info));
        }
        Action::Clear { queue, states, yes } => {
            let filter = backlog::JobFilter {
                queue: Some(queue.clone()),
                states,
                ..Default::default()
            };
            if !yes {
                let n = crate::jobs::count_matching(
                    &client,
                    &filter,
                    &backlog::storage::DELETABLE_STATES,
                )
                .await?;
                if n == 0 {
                    println!("{queue}: no job to delete");
                    return Ok(());
                }
                if !crate::jobs::confirm(&format!("delete {n} job(s) of queue {queue} for good?")) {
                    bail!("not confirmed; nothing deleted (pass --yes to skip the question)");
                }
            }
            let deleted = client
                .job_delete_by_filter(filter)
                .await
                .context("could not clear the queue")?;
            println!("{queue}: deleted {} job(s)", deleted.len());
        }
    }
    Ok(())
}

fn describe_rate(rate: Option<RateLimit>) -> String {
    match rate {
        None => "-".to_owned(),
        Some(r) => format!("{}/{:?}", r.max, r.period),
    }
}

fn to_json(q: &QueueInfo) -> serde_json::Value {
    let counts: serde_json::Map<String, serde_json::Value> = q
        .counts
        .iter()
        .map(|(state, n)| (state.as_str().to_owned(), (*n).into()))
        .collect();
    serde_json::json!({
        "name": q.name,
        "paused_at": q.paused_at,
        "max_running": q.max_running,
        "rate_max": q.rate_limit.map(|r| r.max),
        "rate_period_ms": q.rate_limit.map(|r| r.period.as_millis() as u64),
        "updated_at": q.updated_at,
        "fair": q.fair,
        "partition_max_running": q.partition_max_running,
        "counts": counts,
    })
}

fn print_table(queues: &[QueueInfo]) {
    println!(
        "{:<20} {:<7} {:>11} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "queue",
        "paused",
        "max_running",
        "rate",
        "fair",
        "available",
        "running",
        "waiting",
        "completed",
        "failed"
    );
    for q in queues {
        let waiting = q.count(JobState::Scheduled) + q.count(JobState::Retryable);
        let failed = q.count(JobState::Discarded) + q.count(JobState::Cancelled);
        println!(
            "{:<20} {:<7} {:>11} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            q.name,
            if q.is_paused() { "yes" } else { "no" },
            q.max_running.map_or("-".to_owned(), |n| n.to_string()),
            describe_rate(q.rate_limit),
            match (q.fair, q.partition_max_running) {
                (false, _) => "no".to_owned(),
                (true, None) => "yes".to_owned(),
                (true, Some(n)) => format!("{n}/key"),
            },
            q.count(JobState::Available),
            q.count(JobState::Running),
            waiting,
            q.count(JobState::Completed),
            failed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates() {
        let r = parse_rate("100/s").unwrap().0.unwrap();
        assert_eq!((r.max, r.period), (100, Duration::from_secs(1)));
        let r = parse_rate("20/10s").unwrap().0.unwrap();
        assert_eq!(r.period, Duration::from_secs(10));
        assert_eq!(
            parse_rate("5/500ms").unwrap().0.unwrap().period,
            Duration::from_millis(500)
        );
        assert!(parse_rate("none").unwrap().0.is_none());
        for bad in ["100", "0/s", "x/s", "5/0s", "5/week"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
