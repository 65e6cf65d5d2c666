//! `impl Storage for PgStorage`: forwards each method to the module that runs its statements
//! (the crate docs list them), and holds the helpers those modules share: running one statement
//! on a pooled connection ([`PgStorage::query`], [`PgStorage::execute`]), [`micros`], [`ids`] and
//! [`NoRow`].

use std::time::Duration;

use async_trait::async_trait;
use backlog_storage::{
    BatchAddParams, BatchCreateParams, BatchId, BatchListParams, BatchRow, CronRow, CronTickParams,
    CronUpsertParams, DependencyResult, Error, Event, IdempotencyPruneParams, JobCancelManyResult,
    JobCancelParams, JobCancelResult, JobDeleteFinalizedParams, JobFetchAvailableParams, JobFilter,
    JobFinishManyParams, JobHeartbeatManyParams, JobHeartbeatResult, JobIdsParams,
    JobInsertManyParams, JobInsertResult, JobListParams, JobProgressSetParams, JobRescheduleParams,
    JobRescueParams, JobScheduleParams, JobSearchParams, JobThroughputParams, Leader,
    LeaderElectParams, LeaderResignParams, MigrationRunParams, MigrationStatus, PruneParams,
    Pruned, QueueCount, QueueInfo, QueueLatency, QueuePauseParams, QueueUpdateParams,
    RateLimitTake, RateLimitTakeParams, StateCount, Storage, ThroughputBucket,
    WorkerHeartbeatParams, WorkerListParams, WorkerRow, WorkflowId, WorkflowInsertParams,
    WorkflowInsertResult, WorkflowJob, WorkflowListParams, WorkflowRow,
};
use backlog_types::{JobId, JobRow};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{error, PgStorage};

impl PgStorage {
    /// Runs one statement on a pooled connection, prepared once per connection.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(error::pg)?;
        client.query(&statement, params).await.map_err(error::pg)
    }

    /// Like [`PgStorage::query`], returning the number of rows affected.
    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(error::pg)?;
        client.execute(&statement, params).await.map_err(error::pg)
    }
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The `id` column of every row.
pub(crate) fn ids(rows: &[Row]) -> Result<Vec<JobId>, Error> {
    rows.iter()
        .map(|row| row.try_get("id").map_err(error::decode))
        .collect()
}

#[async_trait]
impl Storage for PgStorage {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn migration_list(&self) -> Result<Vec<MigrationStatus>, Error> {
        self.migration_list_impl().await
    }

    async fn migration_run(&self, params: MigrationRunParams) -> Result<Vec<u32>, Error> {
        self.migration_run_impl(params).await
    }

    async fn now(&self) -> Result<DateTime<Utc>, Error> {
        let rows = self.query(include_str!("../sql/now.sql"), &[]).await?;
        let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
        row.try_get("now").map_err(error::decode)
    }

    async fn job_insert_many(
        &self,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        self.job_insert_many_impl(params).await
    }

    async fn job_insert_and_fetch(
        &self,
        params: JobInsertManyParams,
        fetch: JobFetchAvailableParams,
    ) -> Result<(Vec<JobInsertResult>, Vec<JobRow>), Error> {
        self.insert_and_fetch(params, fetch).await
    }

    async fn job_fetch_available(
        &self,
        params: JobFetchAvailableParams,
    ) -> Result<Vec<JobRow>, Error> {
        if params.max == 0 {
            return Ok(Vec::new());
        }
        self.fetch(&params).await
    }

    async fn job_finish_many(&self, params: JobFinishManyParams) -> Result<Vec<JobId>, Error> {
        self.job_finish_many_impl(params).await
    }

    async fn job_heartbeat_many(
        &self,
        params: JobHeartbeatManyParams,
    ) -> Result<JobHeartbeatResult, Error> {
        self.job_heartbeat_many_impl(params).await
    }

    async fn job_schedule(&self, params: JobScheduleParams) -> Result<Vec<QueueCount>, Error> {
        self.job_schedule_impl(params).await
    }

    async fn job_next_scheduled_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.job_next_scheduled_at_impl().await
    }

    async fn job_rescue(&self, params: JobRescueParams) -> Result<Vec<JobId>, Error> {
        self.job_rescue_impl(params).await
    }

    async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.job_get_impl(id).await
    }

    async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
        self.job_list_impl(params).await
    }

    async fn job_count_by_state(&self) -> Result<Vec<StateCount>, Error> {
        self.job_count_by_state_impl().await
    }

    async fn job_count_unfinished(&self) -> Result<Vec<StateCount>, Error> {
        self.job_count_unfinished_impl().await
    }

    async fn job_cancel(&self, params: JobCancelParams) -> Result<JobCancelResult, Error> {
        self.job_cancel_impl(params).await
    }

    async fn job_cancel_by_filter(&self, filter: JobFilter) -> Result<JobCancelManyResult, Error> {
        self.job_cancel_by_filter_impl(filter).await
    }

    async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        self.job_retry_by_filter_impl(filter).await
    }

    async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        self.job_delete_by_filter_impl(filter).await
    }

    async fn job_reschedule_by_filter(
        &self,
        params: JobRescheduleParams,
    ) -> Result<Vec<JobId>, Error> {
        self.job_reschedule_by_filter_impl(params).await
    }

    async fn job_delete_finalized(&self, params: JobDeleteFinalizedParams) -> Result<u64, Error> {
        self.job_delete_finalized_impl(params).await
    }

    async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.job_archive_get_impl(id).await
    }

    async fn job_cancel_requested(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        self.job_cancel_requested_impl(params).await
    }

    async fn job_purge_many(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        self.job_purge_many_impl(params).await
    }

    async fn job_progress_set(&self, params: JobProgressSetParams) -> Result<bool, Error> {
        self.job_progress_set_impl(params).await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), Error> {
        self.queue_pause_impl(params).await
    }

    async fn queue_resume(&self, params: QueuePauseParams) -> Result<bool, Error> {
        self.queue_resume_impl(params).await
    }

    async fn queue_update(&self, params: QueueUpdateParams) -> Result<QueueInfo, Error> {
        self.queue_update_impl(&params).await?;
        self.queue_get_impl(&params.queue)
            .await?
            .ok_or_else(|| error::decode(NoRow))
    }

    async fn queue_get(&self, queue: &str) -> Result<Option<QueueInfo>, Error> {
        self.queue_get_impl(queue).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueInfo>, Error> {
        self.queue_list_impl().await
    }

    async fn rate_limit_take(&self, params: RateLimitTakeParams) -> Result<RateLimitTake, Error> {
        self.rate_limit_take_impl(&params).await
    }

    async fn event_subscribe(&self) -> Result<broadcast::Receiver<Event>, Error> {
        self.subscribe().await
    }

    async fn flush_wakeups(&self) {
        self.flush_wakeups_impl().await;
    }

    async fn leader_attempt_elect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.leader_elect_impl(include_str!("../sql/leader_attempt_elect.sql"), params)
            .await
    }

    async fn leader_attempt_reelect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.leader_elect_impl(include_str!("../sql/leader_attempt_reelect.sql"), params)
            .await
    }

    async fn leader_resign(&self, params: LeaderResignParams) -> Result<bool, Error> {
        self.leader_resign_impl(params).await
    }

    async fn leader_get(&self, name: &str) -> Result<Option<Leader>, Error> {
        self.leader_get_impl(name).await
    }

    async fn cron_upsert(&self, params: CronUpsertParams) -> Result<CronRow, Error> {
        self.cron_upsert_impl(params).await
    }

    async fn cron_delete(&self, name: &str) -> Result<bool, Error> {
        self.cron_delete_impl(name).await
    }

    async fn cron_list(&self) -> Result<Vec<CronRow>, Error> {
        self.cron_list_impl().await
    }

    async fn cron_tick(&self, params: CronTickParams) -> Result<Option<Vec<JobId>>, Error> {
        self.cron_tick_impl(params).await
    }

    async fn job_search(&self, params: JobSearchParams) -> Result<Vec<JobRow>, Error> {
        self.job_search_impl(params).await
    }

    async fn job_throughput(
        &self,
        params: JobThroughputParams,
    ) -> Result<Vec<ThroughputBucket>, Error> {
        self.job_throughput_impl(params).await
    }

    async fn queue_latency(&self) -> Result<Vec<QueueLatency>, Error> {
        self.queue_latency_impl().await
    }

    async fn worker_heartbeat(&self, params: WorkerHeartbeatParams) -> Result<(), Error> {
        self.worker_heartbeat_impl(params).await
    }

    async fn worker_list(&self, params: WorkerListParams) -> Result<Vec<WorkerRow>, Error> {
        self.worker_list_impl(params).await
    }

    async fn worker_delete(&self, id: &str) -> Result<bool, Error> {
        self.worker_delete_impl(id).await
    }

    async fn idempotency_prune(&self, params: IdempotencyPruneParams) -> Result<u64, Error> {
        self.idempotency_prune_impl(params).await
    }

    async fn workflow_insert(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        self.workflow_insert_impl(params).await
    }

    async fn workflow_list(&self, params: WorkflowListParams) -> Result<Vec<WorkflowRow>, Error> {
        self.workflow_list_impl(None, params).await
    }

    async fn workflow_get(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, Error> {
        let params = WorkflowListParams {
            before_id: None,
            limit: 1,
        };
        Ok(self.workflow_list_impl(Some(id), params).await?.pop())
    }

    async fn workflow_jobs(&self, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error> {
        self.workflow_jobs_impl(id).await
    }

    async fn workflow_retry(&self, id: WorkflowId) -> Result<Vec<JobId>, Error> {
        self.workflow_retry_impl(id).await
    }

    async fn job_dependency_results(&self, id: JobId) -> Result<Vec<DependencyResult>, Error> {
        self.job_dependency_results_impl(id).await
    }

    async fn batch_create(&self, params: BatchCreateParams) -> Result<BatchId, Error> {
        self.batch_create_impl(params).await
    }

    async fn batch_add(&self, params: BatchAddParams) -> Result<Vec<JobInsertResult>, Error> {
        self.batch_add_impl(params).await
    }

    async fn batch_seal(&self, id: BatchId) -> Result<BatchRow, Error> {
        self.batch_seal_impl(id).await
    }

    async fn batch_get(&self, id: BatchId) -> Result<Option<BatchRow>, Error> {
        self.batch_get_impl(id).await
    }

    async fn batch_list(&self, params: BatchListParams) -> Result<Vec<BatchRow>, Error> {
        self.batch_list_impl(params).await
    }

    async fn workflow_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.workflow_prune_impl(params).await
    }

    async fn batch_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.batch_prune_impl(params).await
    }
}

/// A statement that always returns one row returned none.
#[derive(Debug)]
pub(crate) struct NoRow;

impl std::fmt::Display for NoRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the statement returned no row")
    }
}

impl std::error::Error for NoRow {}
