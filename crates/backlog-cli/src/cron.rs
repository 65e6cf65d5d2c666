//! `backlog cron`: list, set and remove periodic job schedules.

use anyhow::{bail, Context};
use backlog::cron::{parse_duration, CronSchedule, MissedPolicy, Schedule};
use backlog::{Client, Priority};
use clap::{Args, Subcommand};

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct CronArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the schedules with their next and last ticks.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a schedule. Its jobs are enqueued by the leader among the running
    /// workers (any runner with maintenance enabled).
    ///
    /// Examples:
    ///   backlog cron set report --kind daily_report --cron "0 30 2 * * *" --tz Europe/Paris
    ///   backlog cron set ping --kind ping --every 30s --missed skip
    #[command(verbatim_doc_comment)]
    Set {
        /// Unique name of the schedule.
        name: String,
        /// Kind of the jobs to enqueue.
        #[arg(long)]
        kind: String,
        /// The jobs' arguments as JSON.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Cron expression: `sec min hour day month weekday` (seconds optional), e.g.
        /// "0 */5 * * * *".
        #[arg(long, conflicts_with = "every", required_unless_present = "every")]
        cron: Option<String>,
        /// Fixed interval instead of a cron expression, e.g. 30s, 5m, 1h30m.
        #[arg(long)]
        every: Option<String>,
        /// IANA time zone in which the cron expression is read, e.g. Europe/Paris.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Queue of the jobs.
        #[arg(long, short, default_value = "default")]
        queue: String,
        /// `high`, `normal`, `low` or an integer (higher runs first).
        #[arg(long, short, value_parser = crate::parse::priority)]
        priority: Option<Priority>,
        /// Attempts before a job is discarded.
        #[arg(long)]
        max_attempts: Option<i32>,
        /// A tag of the jobs (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Ticks missed while no worker ran: `skip` them, run `once` for all, or `catch-up`
        /// with one job each (at most 100).
        #[arg(long, default_value = "skip", value_parser = parse_missed)]
        missed: MissedPolicy,
        /// Store the schedule disabled (it enqueues nothing until set again without this).
        #[arg(long)]
        disabled: bool,
    },
    /// Remove a schedule (jobs it already enqueued stay).
    Remove {
        /// The schedule's name.
        name: String,
    },
}

fn parse_missed(s: &str) -> Result<MissedPolicy, String> {
    s.parse()
        .map_err(|e: backlog::storage::UnknownMissedPolicy| e.to_string())
}

pub async fn run(args: CronArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        Action::List { json } => list(&client, json).await,
        Action::Set {
            name,
            kind,
            args,
            cron,
            every,
            tz,
            queue,
            priority,
            max_attempts,
            tags,
            missed,
            disabled,
        } => {
            let json: serde_json::Value = serde_json::from_str(&args)
                .with_context(|| format!("--args is not valid JSON: `{args}`"))?;
            let schedule = match (cron, every) {
                (Some(expression), None) => Schedule::cron(&expression)?,
                (None, Some(interval)) => Schedule::every(parse_duration(&interval)?)?,
                _ => bail!("give exactly one of --cron and --every"),
            };
            let mut definition = CronSchedule::new(name, kind, json, schedule)
                .timezone(&tz)?
                .queue(queue)
                .missed(missed)
                .enabled(!disabled);
            if let Some(p) = priority {
                definition = definition.priority(p);
            }
            if let Some(m) = max_attempts {
                definition = definition.max_attempts(m);
            }
            for tag in tags {
                definition = definition.tag(tag);
            }
            let row = client.cron_upsert(definition).await?;
            println!(
                "{}: next tick at {}",
                row.definition.name,
                row.next_run_at.to_rfc3339()
            );
            Ok(())
        }
        Action::Remove { name } => {
            if !client.cron_delete(&name).await? {
                bail!("no schedule named `{name}`");
            }
            Ok(())
        }
    }
}

async fn list(client: &Client, json: bool) -> anyhow::Result<()> {
    let rows = client.cron_list().await?;
    if json {
        for row in rows {
            let d = &row.definition;
            let line = serde_json::json!({
                "name": d.name, "kind": d.kind, "args": d.args, "queue": d.queue,
                "priority": d.priority, "max_attempts": d.max_attempts, "tags": d.tags,
                "spec": d.spec, "timezone": d.timezone, "missed": d.missed_policy.as_str(),
                "enabled": d.enabled, "next_run_at": row.next_run_at,
                "last_run_at": row.last_run_at,
            });
            println!("{line}");
        }
        return Ok(());
    }
    println!(
        "{:<24} {:<20} {:<20} {:<16} {:<9} {:<8} {:<25} LAST",
        "NAME", "KIND", "SCHEDULE", "TZ", "MISSED", "ENABLED", "NEXT"
    );
    for row in rows {
        let d = &row.definition;
        println!(
            "{:<24} {:<20} {:<20} {:<16} {:<9} {:<8} {:<25} {}",
            d.name,
            d.kind,
            d.spec,
            d.timezone,
            d.missed_policy.as_str(),
            d.enabled,
            row.next_run_at.to_rfc3339(),
            row.last_run_at.map_or("-".to_owned(), |t| t.to_rfc3339()),
        );
    }
    Ok(())
}
