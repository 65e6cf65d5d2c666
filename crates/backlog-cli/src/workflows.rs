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
    /// Insert a workflow (jobs with dependencies) described in a JSON file (`-`: stdin), in one
    /// transaction; prints its id and its jobs' ids. A cycle or an unknown dependency is refused
    /// before anything is stored. The file:
    ///
    /// {"name": "nightly", "jobs": [
    ///   {"id": "extract", "kind": "extract", "args": {"day": 1}},
    ///   {"id": "load", "kind": "load", "after": ["extract"], "on_failure": "run"}]}
    ///
    /// A job may also give queue, priority (high, normal, low or a number), max_attempts, tags,
    /// metadata, timeout (30s, 5m...), partition_key and expires_at (RFC 3339); `after` names
    /// other jobs by `id` or by position (0 for the first).
    Create {
        /// The JSON file, or `-` for stdin.
        file: String,
    },
}

/// A workflow as `backlog workflows create` reads it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    name: String,
    jobs: Vec<WorkflowFileJob>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFileJob {
    id: Option<String>,
    kind: String,
    #[serde(default)]
    args: serde_json::Value,
    queue: Option<String>,
    priority: Option<serde_json::Value>,
    max_attempts: Option<i32>,
    #[serde(default)]
    tags: Vec<String>,
    metadata: Option<serde_json::Value>,
    timeout: Option<String>,
    partition_key: Option<String>,
    expires_at: Option<String>,
    #[serde(default)]
    after: Vec<serde_json::Value>,
    on_failure: Option<String>,
}

/// Builds the library's workflow from the file; errors name the job and what was wrong.
fn build(file: WorkflowFile) -> anyhow::Result<backlog::Workflow> {
    use backlog::{DependencyFailure, InsertOpts};
    let mut workflow = backlog::Workflow::new(file.name);
    let names: Vec<Option<String>> = file.jobs.iter().map(|j| j.id.clone()).collect();
    let mut steps = Vec::with_capacity(file.jobs.len());
    let mut edges = Vec::new();
    for (i, job) in file.jobs.into_iter().enumerate() {
        let label = job.id.clone().unwrap_or_else(|| format!("#{i}"));
        let mut opts = InsertOpts::new();
        if let Some(queue) = job.queue {
            opts = opts.queue(queue);
        }
        if let Some(priority) = job.priority {
            let text = match &priority {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            opts = opts.priority(
                crate::parse::priority(&text).map_err(|e| anyhow::anyhow!("job {label}: {e}"))?,
            );
        }
        if let Some(n) = job.max_attempts {
            opts = opts.max_attempts(n);
        }
        for tag in job.tags {
            opts = opts.tag(tag);
        }
        if let Some(metadata) = job.metadata {
            opts = opts.metadata(metadata);
        }
        if let Some(timeout) = job.timeout {
            opts = opts.timeout(
                crate::parse::duration(&timeout)
                    .map_err(|e| anyhow::anyhow!("job {label}: {e}"))?,
            );
        }
        if let Some(key) = job.partition_key {
            opts = opts.partition_key(key);
        }
        if let Some(at) = job.expires_at {
            opts = opts.expires_at(
                crate::parse::time(&at).map_err(|e| anyhow::anyhow!("job {label}: {e}"))?,
            );
        }
        let policy = match job.on_failure.as_deref() {
            None | Some("cancel") => DependencyFailure::Cancel,
            Some("run") => DependencyFailure::Run,
            Some(other) => {
                bail!("job {label}: on_failure must be cancel or run, got {other:?}")
            }
        };
        for dependency in job.after {
            let target = match &dependency {
                serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize),
                serde_json::Value::String(s) => names.iter().position(|n| n.as_deref() == Some(s)),
                _ => None,
            }
            .filter(|t| *t < names.len())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "job {label}: `after` entry {dependency} names no job of the file (use a job's id or its position)"
                )
            })?;
            edges.push((i, target, policy));
        }
        steps.push(workflow.add_raw(job.kind, job.args, opts, &[]));
    }
    for (job, on, policy) in edges {
        workflow.depend_with(steps[job], steps[on], policy);
    }
    Ok(workflow)
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
        WorkflowAction::Create { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("could not read stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("could not read {file}"))?
            };
            let parsed: WorkflowFile = serde_json::from_str(&text).with_context(|| {
                format!("{file} is not a workflow file (see `backlog workflows create --help`)")
            })?;
            let inserted = client
                .workflow_insert(build(parsed)?)
                .await
                .context("could not insert the workflow")?;
            println!("workflow {}", inserted.id);
            for id in inserted.job_ids {
                println!("{id}");
            }
        }
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
