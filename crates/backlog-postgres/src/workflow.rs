//! Workflows: inserting one (pooled or in the caller's transaction, `workflow_insert_tx`),
//! listing, inspecting, retrying, pruning, and a job's view of its dependencies.

use backlog_storage::{
    check_workflow, waiting_for_dependencies, DependencyResult, Error, ErrorKind,
    JobInsertManyParams, PruneParams, Pruned, WorkflowId, WorkflowInsertParams,
    WorkflowInsertResult, WorkflowJob, WorkflowListParams, WorkflowRow,
};
use backlog_types::{JobId, JobState};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Row};

use crate::row::{self, PgJobState};
use crate::tx::{ENTER, LEAVE};
use crate::{error, PgStorage};

const CREATE: &str = include_str!("../sql/workflow_create.sql");
const CREATE_TYPES: [Type; 7] = [
    Type::TEXT,
    Type::INT8_ARRAY,
    Type::INT4_ARRAY,
    Type::INT8_ARRAY,
    Type::INT8_ARRAY,
    Type::INT2_ARRAY,
    Type::TEXT,
];
const FIND_KEY: &str = include_str!("../sql/workflow_find_key.sql");

impl PgStorage {
    /// Inserts a workflow like
    /// [`Storage::workflow_insert`](backlog_storage::Storage::workflow_insert), on `client`:
    /// typically the caller's open transaction, so the workflow commits or rolls back with the
    /// caller's own writes. Listeners are woken when (and only if) it commits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a workflow
    /// refused by [`check_workflow`] (nothing is sent); otherwise as for
    /// [`PgStorage::job_insert_many_tx`]. With an idempotency key that a concurrent
    /// transaction is inserting too, [`ErrorKind::UniqueViolation`]
    /// once the other commits: roll back and retry, and the retry finds it.
    pub async fn workflow_insert_tx<C: GenericClient + Sync>(
        &self,
        client: &C,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        let checked = check_workflow(&params)?;
        if let Some(key) = &params.idempotency_key {
            if let Some(found) = self.workflow_find_key(client, key).await? {
                return Ok(found);
            }
        }
        let jobs = checked.park_waiting(params.jobs);
        let inserted = self
            .job_insert_many_tx(client, JobInsertManyParams { jobs })
            .await?;
        let job_ids: Vec<JobId> = inserted.iter().map(|r| r.id).collect();
        let (mut dependants, mut dependencies, mut policies) = (Vec::new(), Vec::new(), Vec::new());
        for edge in &checked.edges {
            dependants.push(job_ids[edge.job]);
            dependencies.push(job_ids[edge.depends_on]);
            policies.push(edge.on_failure.code());
        }
        let schema = self.schema();
        let params: [&(dyn ToSql + Sync); 7] = [
            &params.name,
            &job_ids,
            &checked.waiting,
            &dependants,
            &dependencies,
            &policies,
            &params.idempotency_key,
        ];
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            params.iter().copied().zip(CREATE_TYPES).collect();
        let enter_params = [(&schema as &(dyn ToSql + Sync), Type::TEXT)];
        // Pipelined like the transactional insert: the statement runs in Backlog's schema.
        let (enter, rows, leave) = tokio::join!(
            client.query_typed(ENTER, &enter_params),
            client.query_typed(CREATE, &typed),
            client.query_typed(LEAVE, &[]),
        );
        let rows = rows.map_err(error::pg)?;
        enter.map_err(error::pg)?;
        leave.map_err(error::pg)?;
        let row = rows.first().ok_or_else(|| error::decode(NoWorkflowRow))?;
        Ok(WorkflowInsertResult {
            id: row.try_get("id").map_err(error::decode)?,
            job_ids,
            duplicate: false,
        })
    }

    /// The workflow stored under idempotency key `key`, as a duplicate's result.
    async fn workflow_find_key<C: GenericClient + Sync>(
        &self,
        client: &C,
        key: &str,
    ) -> Result<Option<WorkflowInsertResult>, Error> {
        let schema = self.schema();
        let enter_params = [(&schema as &(dyn ToSql + Sync), Type::TEXT)];
        let key_params = [(&key as &(dyn ToSql + Sync), Type::TEXT)];
        let (enter, rows, leave) = tokio::join!(
            client.query_typed(ENTER, &enter_params),
            client.query_typed(FIND_KEY, &key_params),
            client.query_typed(LEAVE, &[]),
        );
        let rows = rows.map_err(error::pg)?;
        enter.map_err(error::pg)?;
        leave.map_err(error::pg)?;
        rows.first().map(duplicate_of).transpose()
    }

    pub(crate) async fn workflow_insert_impl(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        check_workflow(&params)?;
        let key = params.idempotency_key.clone();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        match self.workflow_insert_tx(&*tx, params).await {
            Ok(result) => {
                tx.commit().await.map_err(error::pg)?;
                Ok(result)
            }
            // A concurrent insert of the same key committed first: answer with its workflow.
            Err(e) if e.kind() == ErrorKind::UniqueViolation && key.is_some() => {
                drop(tx);
                drop(client);
                let rows = self.query(FIND_KEY, &[&key]).await?;
                rows.first().map(duplicate_of).transpose()?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn workflow_list_impl(
        &self,
        id: Option<WorkflowId>,
        params: WorkflowListParams,
    ) -> Result<Vec<WorkflowRow>, Error> {
        let rows = self
            .query(
                include_str!("../sql/workflow_list.sql"),
                &[&id, &params.before_id, &i64::from(params.limit)],
            )
            .await?;
        rows.iter().map(workflow_row).collect()
    }

    pub(crate) async fn workflow_jobs_impl(
        &self,
        id: WorkflowId,
    ) -> Result<Vec<WorkflowJob>, Error> {
        let rows = self
            .query(include_str!("../sql/workflow_jobs.sql"), &[&id])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowJob {
                    job: row::job_row(r)?,
                    deps_left: r.try_get("deps_left").map_err(error::decode)?,
                    depends_on: r.try_get("depends_on").map_err(error::decode)?,
                })
            })
            .collect()
    }

    pub(crate) async fn workflow_retry_impl(&self, id: WorkflowId) -> Result<Vec<JobId>, Error> {
        let rows = self
            .query(
                include_str!("../sql/workflow_retry.sql"),
                &[&id, &waiting_for_dependencies()],
            )
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut queues: Vec<String> = Vec::new();
        for row in &rows {
            ids.push(row.try_get("id").map_err(error::decode)?);
            let state: &str = row.try_get("state").map_err(error::decode)?;
            let queue: String = row.try_get("queue").map_err(error::decode)?;
            if state == "available" && !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        self.wake(queues);
        ids.sort_unstable();
        Ok(ids)
    }

    pub(crate) async fn job_dependency_results_impl(
        &self,
        id: JobId,
    ) -> Result<Vec<DependencyResult>, Error> {
        let rows = self
            .query(include_str!("../sql/job_dependency_results.sql"), &[&id])
            .await?;
        rows.iter()
            .map(|row| {
                let state: PgJobState = row.try_get("state").map_err(error::decode)?;
                Ok(DependencyResult {
                    id: row.try_get("id").map_err(error::decode)?,
                    kind: row.try_get("kind").map_err(error::decode)?,
                    state: state.0,
                    result: row.try_get("result").map_err(error::decode)?,
                })
            })
            .collect()
    }
}

/// A `workflow_find_key.sql` row as the result of a resent insert.
fn duplicate_of(row: &Row) -> Result<WorkflowInsertResult, Error> {
    Ok(WorkflowInsertResult {
        id: row.try_get("id").map_err(error::decode)?,
        job_ids: row
            .try_get::<_, Option<Vec<JobId>>>("job_ids")
            .map_err(error::decode)?
            .unwrap_or_default(),
        duplicate: true,
    })
}

fn workflow_row(row: &Row) -> Result<WorkflowRow, Error> {
    let states: serde_json::Value = row.try_get("states").map_err(error::decode)?;
    let mut counts = Vec::new();
    for state in JobState::ALL {
        if let Some(n) = states
            .get(state.as_str())
            .and_then(serde_json::Value::as_u64)
        {
            counts.push((state, n));
        }
    }
    let waiting: i64 = row.try_get("waiting").map_err(error::decode)?;
    Ok(WorkflowRow {
        id: row.try_get("id").map_err(error::decode)?,
        name: row.try_get("name").map_err(error::decode)?,
        created_at: row.try_get("created_at").map_err(error::decode)?,
        states: counts,
        waiting: waiting.unsigned_abs(),
    })
}

/// `workflow_create.sql` returned no row (it always returns one).
#[derive(Debug)]
struct NoWorkflowRow;

impl std::fmt::Display for NoWorkflowRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("workflow_create returned no row")
    }
}

impl std::error::Error for NoWorkflowRow {}

impl PgStorage {
    pub(crate) async fn workflow_prune_impl(&self, params: PruneParams) -> Result<Pruned, Error> {
        let rows = self
            .query(
                include_str!("../sql/workflow_prune.sql"),
                &[&i64::from(params.limit), &params.after],
            )
            .await?;
        crate::maintenance::pruned(&rows, params.limit)
    }
}
