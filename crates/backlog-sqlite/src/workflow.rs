//! Workflows: inserting one in a write transaction (or the caller's own, `workflow_insert_tx`),
//! listing, inspecting, retrying, pruning, and a job's view of its dependencies.

use backlog_storage::{
    check_workflow, waiting_for_dependencies, CheckedWorkflow, DependencyResult, Error,
    PruneParams, Pruned, WorkflowId, WorkflowInsertParams, WorkflowInsertResult, WorkflowJob,
    WorkflowListParams, WorkflowRow,
};
use backlog_types::{JobId, JobState};
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::{decode, from_sqlite};
use crate::insert::{self, InsertBatch};
use crate::row::{get, job_row, json, optional_json, timestamp};
use crate::{sql, time, SqliteStorage};

/// A checked workflow encoded for the writer.
pub(crate) struct Encoded {
    pub(crate) name: String,
    pub(crate) idempotency_key: Option<String>,
    /// Its jobs; dependants wait in the year 9999.
    pub(crate) jobs: InsertBatch,
}

/// The jobs of a checked workflow, encoded for the writer.
pub(crate) fn encode(
    params: WorkflowInsertParams,
    checked: &CheckedWorkflow,
    now: DateTime<Utc>,
) -> Encoded {
    let jobs = checked.park_waiting(params.jobs);
    Encoded {
        name: params.name,
        idempotency_key: params.idempotency_key,
        jobs: InsertBatch::new(jobs, now),
    }
}

/// Inserts the workflow's jobs, its row and its edges (in the writer's transaction); with an
/// idempotency key already used, inserts nothing and returns the earlier workflow (the writer
/// runs one transaction at a time, so the lookup cannot race another insert of the key).
pub(crate) fn insert(
    conn: &Connection,
    workflow: &Encoded,
    checked: &CheckedWorkflow,
    now: DateTime<Utc>,
) -> Result<WorkflowInsertResult, Error> {
    if let Some(key) = &workflow.idempotency_key {
        let found: Option<(WorkflowId, Option<String>)> = conn
            .prepare_cached(sql::WORKFLOW_FIND_KEY)
            .and_then(|mut s| {
                s.query_row(named_params! { ":key": key }, |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
            })
            .map_err(from_sqlite)?;
        if let Some((id, job_ids)) = found {
            let job_ids = match job_ids {
                Some(text) => serde_json::from_str(&text).map_err(|e| decode("job_ids", e))?,
                None => Vec::new(),
            };
            return Ok(WorkflowInsertResult {
                id,
                job_ids,
                duplicate: true,
            });
        }
    }
    let job_ids: Vec<JobId> = insert::job_insert_many(conn, &workflow.jobs)?
        .iter()
        .map(|r| r.id)
        .collect();
    let kept_ids = match &workflow.idempotency_key {
        Some(_) => Some(serde_json::to_string(&job_ids).map_err(|e| decode("job_ids", e))?),
        None => None,
    };
    let id: WorkflowId = conn
        .prepare_cached(sql::WORKFLOW_CREATE)
        .and_then(|mut s| {
            s.query_row(
                named_params! {
                    ":name": workflow.name,
                    ":now": time::encode(now),
                    ":key": workflow.idempotency_key,
                    ":job_ids": kept_ids,
                },
                |row| row.get(0),
            )
        })
        .map_err(from_sqlite)?;
    let jobs: Vec<(JobId, i32)> = job_ids
        .iter()
        .copied()
        .zip(checked.waiting.iter().copied())
        .collect();
    let jobs = serde_json::to_string(&jobs).map_err(|e| decode("deps_left", e))?;
    conn.prepare_cached(sql::WORKFLOW_CREATE_JOBS)
        .and_then(|mut s| s.execute(named_params! { ":workflow": id, ":jobs": jobs }))
        .map_err(from_sqlite)?;
    let edges: Vec<(JobId, JobId, i16)> = checked
        .edges
        .iter()
        .map(|e| (job_ids[e.job], job_ids[e.depends_on], e.on_failure.code()))
        .collect();
    if !edges.is_empty() {
        let edges = serde_json::to_string(&edges).map_err(|e| decode("on_failure", e))?;
        conn.prepare_cached(sql::WORKFLOW_CREATE_EDGES)
            .and_then(|mut s| s.execute(named_params! { ":workflow": id, ":edges": edges }))
            .map_err(from_sqlite)?;
    }
    Ok(WorkflowInsertResult {
        id,
        job_ids,
        duplicate: false,
    })
}

/// Workflows with per-state counts, newest first (`id`: only that one).
pub(crate) fn list(
    conn: &Connection,
    id: Option<WorkflowId>,
    params: &WorkflowListParams,
) -> Result<Vec<WorkflowRow>, Error> {
    let mut statement = conn
        .prepare_cached(sql::WORKFLOW_LIST)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":id": id,
            ":before_id": params.before_id,
            ":limit": params.limit,
        })
        .map_err(from_sqlite)?;
    let mut workflows = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let states: serde_json::Value = json(row, "states")?;
        let counts = JobState::ALL
            .into_iter()
            .filter_map(|state| {
                let n = states.get(state.as_str())?.as_u64()?;
                Some((state, n))
            })
            .collect();
        let waiting: i64 = get(row, "waiting")?;
        workflows.push(WorkflowRow {
            id: get(row, "id")?,
            name: get(row, "name")?,
            created_at: timestamp(row, "created_at")?,
            states: counts,
            waiting: waiting.unsigned_abs(),
        });
    }
    Ok(workflows)
}

/// Every job of a workflow with its dependencies.
pub(crate) fn jobs(conn: &Connection, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error> {
    let mut statement = conn
        .prepare_cached(sql::WORKFLOW_JOBS)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":id": id })
        .map_err(from_sqlite)?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        jobs.push(WorkflowJob {
            job: job_row(row)?,
            deps_left: get(row, "deps_left")?,
            depends_on: json(row, "depends_on")?,
        });
    }
    Ok(jobs)
}

/// Retries a workflow's failed jobs; returns their ids and the queues that got available jobs.
pub(crate) fn retry(
    conn: &Connection,
    id: WorkflowId,
    now: DateTime<Utc>,
) -> Result<(Vec<JobId>, Vec<String>), Error> {
    let mut statement = conn
        .prepare_cached(sql::WORKFLOW_RETRY)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! {
            ":id": id,
            ":now": time::encode(now),
            ":waiting": time::encode(waiting_for_dependencies()),
        })
        .map_err(from_sqlite)?;
    let (mut ids, mut queues) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        ids.push(get(row, "id")?);
        let state: String = get(row, "state")?;
        let queue: String = get(row, "queue")?;
        if state == "available" && !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    ids.sort_unstable();
    Ok((ids, queues))
}

/// The dependencies of a job with their states and results.
pub(crate) fn dependency_results(
    conn: &Connection,
    id: JobId,
) -> Result<Vec<DependencyResult>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_DEPENDENCY_RESULTS)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":id": id })
        .map_err(from_sqlite)?;
    let mut results = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let state: String = get(row, "state")?;
        results.push(DependencyResult {
            id: get(row, "id")?,
            kind: get(row, "kind")?,
            state: state.parse().map_err(|e| decode("state", e))?,
            result: optional_json(row, "result")?,
        });
    }
    Ok(results)
}

/// One window of the cleaner's sweep ([`PruneParams`]): deletes the workflows of the window
/// with no job left, and their edges.
pub(crate) fn prune(conn: &Connection, params: PruneParams) -> Result<Pruned, Error> {
    if params.limit == 0 {
        return Ok(Pruned::window(0, 0, None, 0));
    }
    let until = window_end(conn, sql::WORKFLOW_PRUNE_WINDOW, params)?;
    let ids: Vec<WorkflowId> = conn
        .prepare_cached(sql::WORKFLOW_PRUNE)
        .and_then(|mut s| {
            s.query_map(
                named_params! { ":after": params.after, ":until": until.unwrap_or(i64::MAX) },
                |row| row.get(0),
            )?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(from_sqlite)?;
    if !ids.is_empty() {
        conn.prepare_cached(sql::WORKFLOW_PRUNE_EDGES)
            .and_then(|mut s| s.execute(named_params! { ":ids": crate::settle::id_list(&ids) }))
            .map_err(from_sqlite)?;
    }
    Ok(Pruned {
        deleted: ids.len() as u64,
        next: until,
    })
}

/// The last id of a prune window ([`PruneParams`], `limit` at least 1) by `window`
/// (`*_prune_window.sql`): the `limit`-th id above `after`, or `None` when fewer are left and
/// the window runs to the end.
pub(crate) fn window_end(
    conn: &Connection,
    window: &str,
    params: PruneParams,
) -> Result<Option<i64>, Error> {
    conn.prepare_cached(window)
        .and_then(|mut s| {
            s.query_row(
                named_params! { ":after": params.after, ":limit": params.limit },
                |row| row.get(0),
            )
            .optional()
        })
        .map_err(from_sqlite)
}

impl SqliteStorage {
    /// Inserts a workflow like
    /// [`Storage::workflow_insert`](backlog_storage::Storage::workflow_insert), on the caller's
    /// own rusqlite transaction on the same file: jobs, edges and the workflow row commit or
    /// roll back with the caller's writes. Wake-ups as for [`SqliteStorage::job_insert_many_tx`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](backlog_storage::ErrorKind::InvalidInput) for a workflow
    /// refused by [`check_workflow`] (nothing is written); otherwise database errors, after
    /// which the caller should roll back.
    pub fn workflow_insert_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        let checked = check_workflow(&params)?;
        let now = time::now();
        let encoded = crate::workflow::encode(params, &checked, now);
        let result = crate::workflow::insert(tx, &encoded, &checked, now)?;
        if !result.duplicate {
            self.notifier()
                .job_available(encoded.jobs.available.iter().map(String::as_str));
        }
        Ok(result)
    }
}
