//! Workflows and batches through the [`Client`]: insert, inspect, cancel, retry.

use backlog_storage::{
    BatchAddParams, BatchCallback, BatchCreateParams, BatchId, BatchListParams, BatchRow,
    CallbackOn, JobCancelManyResult, JobFilter, WorkflowId, WorkflowInsertParams,
    WorkflowInsertResult, WorkflowJob, WorkflowListParams, WorkflowRow,
};
use backlog_types::JobId;

use super::Client;
use crate::{EnqueueError, Error, InsertOpts, JobArgs, Workflow, WorkflowError};

impl Client {
    /// Validates a workflow's jobs and graph without inserting anything: the params to insert
    /// with [`Storage::workflow_insert`](backlog_storage::Storage::workflow_insert) or, inside
    /// your own transaction, `PgStorage::workflow_insert_tx`.
    pub fn workflow_prepare(
        &self,
        workflow: Workflow,
    ) -> Result<WorkflowInsertParams, WorkflowError> {
        if let Some((job, step)) = workflow.foreign {
            return Err(WorkflowError::ForeignStep { job, step });
        }
        let mut jobs = Vec::with_capacity(workflow.jobs.len());
        for (index, pending) in workflow.jobs.into_iter().enumerate() {
            let args = pending.args.map_err(|source| WorkflowError::Enqueue {
                index,
                source: EnqueueError::Serialize {
                    kind: pending.kind.to_string(),
                    source,
                },
            })?;
            let job = self
                .prepare_raw(&pending.kind, args, pending.opts)
                .map_err(|source| WorkflowError::Enqueue { index, source })?;
            jobs.push(job);
        }
        let params = WorkflowInsertParams {
            name: workflow.name,
            jobs,
            dependencies: workflow.dependencies,
            idempotency_key: workflow.idempotency_key,
        };
        backlog_storage::check_workflow(&params)?;
        Ok(params)
    }

    /// Inserts a workflow in one transaction: every job, every dependency. Jobs without
    /// dependencies are available at once; the others wait (stored `scheduled`) until their
    /// dependencies have settled.
    ///
    /// # Errors
    ///
    /// [`WorkflowError`]: a cycle, a missing dependency or a refused job is reported before
    /// anything is stored.
    pub async fn workflow_insert(
        &self,
        workflow: Workflow,
    ) -> Result<WorkflowInsertResult, WorkflowError> {
        let params = self.workflow_prepare(workflow)?;
        self.workflow_insert_prepared(params).await
    }

    /// Inserts a workflow prepared by [`Client::workflow_prepare`] (or built by hand from
    /// jobs prepared with [`Client::prepare_raw`], as Backlog's server does).
    ///
    /// # Errors
    ///
    /// As for [`Client::workflow_insert`].
    pub async fn workflow_insert_prepared(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, WorkflowError> {
        backlog_storage::check_workflow(&params)?;
        let counts = crate::telemetry::enqueue_counts(&params.jobs);
        let result = self
            .storage
            .workflow_insert(params)
            .await
            .map_err(|e| WorkflowError::Insert(e.into()))?;
        if !result.duplicate {
            crate::telemetry::enqueued(counts);
        }
        Ok(result)
    }

    /// Workflows, newest first, with their jobs per state.
    pub async fn workflow_list(
        &self,
        params: WorkflowListParams,
    ) -> Result<Vec<WorkflowRow>, Error> {
        Ok(self.storage.workflow_list(params).await?)
    }

    /// One workflow with its jobs per state.
    pub async fn workflow_get(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, Error> {
        Ok(self.storage.workflow_get(id).await?)
    }

    /// Every job of a workflow with its state and dependencies.
    pub async fn workflow_jobs(&self, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error> {
        Ok(self.storage.workflow_jobs(id).await?)
    }

    /// Cancels a workflow as a whole: its waiting jobs are cancelled, cancellation of its
    /// running ones is requested. Finished jobs are left alone.
    pub async fn workflow_cancel(&self, id: WorkflowId) -> Result<JobCancelManyResult, Error> {
        let ids: Vec<JobId> = self
            .storage
            .workflow_jobs(id)
            .await?
            .into_iter()
            .filter(|j| !j.job.state.is_finalized())
            .map(|j| j.job.id)
            .collect();
        if ids.is_empty() {
            return Ok(JobCancelManyResult::default());
        }
        Ok(self
            .storage
            .job_cancel_by_filter(JobFilter {
                ids,
                ..Default::default()
            })
            .await?)
    }

    /// Retries a workflow as a whole: its discarded and cancelled jobs wait again for their
    /// dependencies that have not completed (or run at once). Returns the ids retried.
    pub async fn workflow_retry(&self, id: WorkflowId) -> Result<Vec<JobId>, Error> {
        Ok(self.storage.workflow_retry(id).await?)
    }

    /// A batch callback that enqueues `args` (a struct, serialized to a JSON object) when the
    /// batch finishes. The job's args get the batch's
    /// [`BatchCounts`](backlog_storage::BatchCounts) under `"batch"`: give the args type a
    /// `batch: BatchCounts` field (`#[serde(default)]`) to read them.
    pub fn batch_callback<A: JobArgs>(
        &self,
        args: &A,
        opts: InsertOpts,
        on: CallbackOn,
    ) -> Result<BatchCallback, EnqueueError> {
        let job = self.prepare(args, opts)?;
        if !job.args.is_object() {
            return Err(EnqueueError::InvalidOption(format!(
                "a batch callback's args must serialize to a JSON object (kind `{}`)",
                A::KIND
            )));
        }
        Ok(BatchCallback {
            queue: job.queue,
            kind: job.kind,
            args: job.args.to_value(),
            priority: job.priority,
            max_attempts: job.max_attempts,
            on,
        })
    }

    /// Creates an open batch (inside `parent`, if given, which must be open).
    pub async fn batch_create(
        &self,
        description: impl Into<String>,
        parent: Option<BatchId>,
        callback: Option<BatchCallback>,
    ) -> Result<BatchId, Error> {
        self.batch_create_with(BatchCreateParams {
            parent,
            description: description.into(),
            callback,
            idempotency_key: None,
        })
        .await
    }

    /// Creates an open batch with every parameter, including an idempotency key: creating
    /// again with a key already used creates nothing and returns the batch created with it
    /// (safe to retry after a timeout or a lost reply).
    pub async fn batch_create_with(&self, params: BatchCreateParams) -> Result<BatchId, Error> {
        Ok(self.storage.batch_create(params).await?)
    }

    /// Enqueues jobs as members of an open batch, in one transaction.
    ///
    /// # Errors
    ///
    /// As for [`Client::enqueue_many`]; a sealed or missing batch is
    /// [`EnqueueError::Storage`] with
    /// [`ErrorKind::InvalidInput`](backlog_storage::ErrorKind::InvalidInput).
    pub async fn batch_add<A: JobArgs>(
        &self,
        batch: BatchId,
        args: impl IntoIterator<Item = A>,
        opts: InsertOpts,
    ) -> Result<Vec<JobId>, EnqueueError> {
        let jobs = args
            .into_iter()
            .map(|a| self.prepare(&a, opts.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        if jobs
            .iter()
            .any(|j| j.unique.is_some() || j.idempotency.is_some())
        {
            return Err(EnqueueError::InvalidOption(
                "batch members cannot be unique or share one idempotency key (give each job \
                 its own key with `batch_add_prepared`)"
                    .to_owned(),
            ));
        }
        Ok(self
            .batch_add_prepared(batch, jobs)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect())
    }

    /// Adds prepared jobs ([`Client::prepare`], [`Client::prepare_raw`]) to an open batch, in
    /// one transaction. Each job may carry its own idempotency key: a job whose key was used
    /// before is neither inserted nor counted again (its outcome says `duplicate`), so adding
    /// can be retried safely. Unique jobs are refused.
    ///
    /// # Errors
    ///
    /// As for [`Client::batch_add`].
    pub async fn batch_add_prepared(
        &self,
        batch: BatchId,
        jobs: Vec<backlog_storage::JobInsert>,
    ) -> Result<Vec<crate::InsertOutcome>, EnqueueError> {
        let counts = crate::telemetry::enqueue_counts(&jobs);
        let results = self
            .storage
            .batch_add(BatchAddParams { batch, jobs })
            .await?;
        crate::telemetry::enqueued(counts);
        Ok(results)
    }

    /// Seals a batch: no more members. Its callback fires once every member has finished (at
    /// once if they all have).
    pub async fn batch_seal(&self, batch: BatchId) -> Result<BatchRow, Error> {
        Ok(self.storage.batch_seal(batch).await?)
    }

    /// One batch with its counts.
    pub async fn batch_get(&self, batch: BatchId) -> Result<Option<BatchRow>, Error> {
        Ok(self.storage.batch_get(batch).await?)
    }

    /// Batches, newest first.
    pub async fn batch_list(&self, params: BatchListParams) -> Result<Vec<BatchRow>, Error> {
        Ok(self.storage.batch_list(params).await?)
    }
}
