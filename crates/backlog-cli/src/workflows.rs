//! `backlog workflows` and `backlog batches`: list, inspect, cancel and retry them.

use anyhow::{bail, Context};
use backlog::storage::{BatchListParams, BatchRow, WorkflowJob, WorkflowListParams, WorkflowRow};
use backlog::{BatchId, Client, WorkflowId};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct WorkflowsArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: WorkflowAction,
}

#[derive(Debug, Subcommand)]
enum WorkflowAction {
    /// List workflows, newest first, with their jobs per state.
    List {
        /// Only workflows with an id below this one (next page).
        #[arg(long)]
        before: Option<WorkflowId>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a workflow and each of its jobs (state, dependencies, dependencies not yet settled).
    Show {
        id: WorkflowId,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a workflow: waiting jobs are cancelled, running ones get a cancellation request.
    Cancel { id: WorkflowId },
    /// Retry a workflow: its discarded and cancelled jobs wait again for their dependencies
    /// that have not completed, or run at once.
    Retry { id: WorkflowId },
}

#[derive(Debug, Args)]
pub struct BatchesArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: BatchAction,
}

#[derive(Debug, Subcommand)]
enum BatchAction {
    /// List batches, newest first, with their counts.
    List {
        /// Only batches with an id below this one (next page).
        #[arg(long)]
        before: Option<BatchId>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one batch as JSON.
    Show { id: BatchId },
}

pub async fn run_workflows(args: WorkflowsArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        WorkflowAction::List {
            before,
            limit,
            json,
        } => {
            let rows = client
                .workflow_list(WorkflowListParams {
                    before_id: before,
                    limit,
                })
                .await
                .context("could not list workflows")?;
            if json {
                for row in &rows {
                    println!("{}", serde_json::to_string(&workflow_json(row))?);
                }
            } else {
                println!(
                    "{:>8}  {:<30} {:>6} {:>8}  states",
                    "id", "name", "jobs", "waiting"
                );
                for row in &rows {
                    println!(
                        "{:>8}  {:<30} {:>6} {:>8}  {}",
                        row.id,
                        row.name,
                        row.total(),
                        row.waiting,
                        states_text(row)
                    );
                }
            }
        }
        WorkflowAction::Show { id, json } => {
            let Some(row) = client
                .workflow_get(id)
                .await
                .context("could not read the workflow")?
            else {
                bail!("no workflow with id {id} (see `backlog workflows list`)");
            };
            let jobs = client
                .workflow_jobs(id)
                .await
                .context("could not read the workflow's jobs")?;
            if json {
                let mut value = workflow_json(&row);
                value["jobs"] = jobs.iter().map(job_json).collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("workflow {} `{}`: {}", row.id, row.name, states_text(&row));
                println!(
                    "{:>10}  {:<10} {:<20} {:>9}  depends on",
                    "job", "state", "kind", "deps left"
                );
                for job in &jobs {
                    println!(
                        "{:>10}  {:<10} {:<20} {:>9}  {}",
                        job.job.id,
                        job.job.state,
                        job.job.kind,
                        job.deps_left,
                        job.depends_on
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
            }
        }
        WorkflowAction::Cancel { id } => {
            if client.workflow_get(id).await?.is_none() {
                bail!("no workflow with id {id} (see `backlog workflows list`)");
            }
            let result = client
                .workflow_cancel(id)
                .await
                .context("could not cancel the workflow")?;
            println!(
                "workflow {id}: cancelled: {}, cancellation requested (running): {}",
                result.cancelled.len(),
                result.cancel_requested.len()
            );
        }
        WorkflowAction::Retry { id } => {
            if client.workflow_get(id).await?.is_none() {
                bail!("no workflow with id {id} (see `backlog workflows list`)");
            }
            let ids = client
                .workflow_retry(id)
                .await
                .context("could not retry the workflow")?;
            println!("workflow {id}: retried: {}", ids.len());
        }
    }
    Ok(())
}

pub async fn run_batches(args: BatchesArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let client = Client::from_arc(db.storage.clone());
    match args.action {
        BatchAction::List {
            before,
            limit,
            json,
        } => {
            let rows = client
                .batch_list(BatchListParams {
                    before_id: before,
                    limit,
                })
                .await
                .context("could not list batches")?;
            if json {
                for row in &rows {
                    println!("{}", serde_json::to_string(&batch_json(row))?);
                }
            } else {
                println!(
                    "{:>8}  {:<8} {:>7} {:>9} {:>7} {:>9}  {:<8} description",
                    "id", "parent", "total", "succeeded", "failed", "cancelled", "status"
                );
                for row in &rows {
                    let c = &row.counts;
                    println!(
                        "{:>8}  {:<8} {:>7} {:>9} {:>7} {:>9}  {:<8} {}",
                        c.id,
                        row.parent.map(|p| p.to_string()).unwrap_or_default(),
                        c.total,
                        c.succeeded,
                        c.failed,
                        c.cancelled,
                        status(row),
                        row.description
                    );
                }
            }
        }
        BatchAction::Show { id } => match client
            .batch_get(id)
            .await
            .context("could not read the batch")?
        {
            Some(row) => println!("{}", serde_json::to_string_pretty(&batch_json(&row))?),
            None => bail!("no batch with id {id} (see `backlog batches list`)"),
        },
    }
    Ok(())
}

fn states_text(row: &WorkflowRow) -> String {
    row.states
        .iter()
        .map(|(state, n)| format!("{state}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn workflow_json(row: &WorkflowRow) -> serde_json::Value {
    let states: serde_json::Map<String, serde_json::Value> = row
        .states
        .iter()
        .map(|(state, n)| (state.to_string(), json!(n)))
        .collect();
    json!({
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "jobs": row.total(),
        "waiting": row.waiting,
        "finished": row.is_finished(),
        "states": states,
    })
}

fn job_json(job: &WorkflowJob) -> serde_json::Value {
    json!({
        "id": job.job.id,
        "state": job.job.state,
        "queue": job.job.queue,
        "kind": job.job.kind,
        "deps_left": job.deps_left,
        "depends_on": job.depends_on,
        "result": job.job.result,
    })
}

fn status(row: &BatchRow) -> &'static str {
    match (row.sealed_at, row.finished_at) {
        (_, Some(_)) => "finished",
        (Some(_), None) => "sealed",
        (None, None) => "open",
    }
}

fn batch_json(row: &BatchRow) -> serde_json::Value {
    json!({
        "id": row.counts.id,
        "parent": row.parent,
        "description": row.description,
        "status": status(row),
        "total": row.counts.total,
        "succeeded": row.counts.succeeded,
        "failed": row.counts.failed,
        "cancelled": row.counts.cancelled,
        "callback_kind": row.callback_kind,
        "callback_on": format!("{:?}", row.callback_on).to_lowercase(),
        "callback_job_id": row.callback_job_id,
        "created_at": row.created_at,
        "sealed_at": row.sealed_at,
        "finished_at": row.finished_at,
    })
}
