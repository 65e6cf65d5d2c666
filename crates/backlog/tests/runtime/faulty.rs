//! A storage wrapper that injects one fault around outcome writes:
//! - [`Fault::LostFirstReply`]: the first outcome write commits but its caller gets an error
//!   (as when the connection breaks after the commit), so it retries;
//! - [`Fault::FinishRacesHeartbeat`]: the first outcome write waits until a heartbeat has taken
//!   its list of held jobs, and commits before that heartbeat reaches the database;
//! - [`Fault::LostFirstInsertReply`]: the first insert commits but its caller gets an
//!   outcome-unknown error, so it retries the enqueue;
//! - [`Fault::None`]: nothing goes wrong; only counts heartbeats (see [`Faulty::beats`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use backlog::storage::*;
use backlog::{JobId, JobRow};
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    LostFirstReply,
    FinishRacesHeartbeat,
    LostFirstInsertReply,
    None,
}

pub struct Faulty {
    inner: Arc<dyn Storage>,
    fault: Fault,
    /// Set once the first outcome write started.
    done: AtomicBool,
    /// Set once the first insert started.
    inserted: AtomicBool,
    /// Set once the first heartbeat started.
    beat: AtomicBool,
    heartbeat_entered: Notify,
    finish_committed: Notify,
    /// How many heartbeats started.
    pub beats: watch::Sender<usize>,
}

impl Faulty {
    pub fn new(inner: Arc<dyn Storage>, fault: Fault) -> Faulty {
        Faulty {
            inner,
            fault,
            done: AtomicBool::new(false),
            beat: AtomicBool::new(false),
            inserted: AtomicBool::new(false),
            heartbeat_entered: Notify::new(),
            finish_committed: Notify::new(),
            beats: watch::Sender::new(0),
        }
    }
}

#[async_trait]
impl Storage for Faulty {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn migration_list(&self) -> Result<Vec<MigrationStatus>, Error> {
        self.inner.migration_list().await
    }

    async fn migration_run(&self, params: MigrationRunParams) -> Result<Vec<u32>, Error> {
        self.inner.migration_run(params).await
    }

    async fn now(&self) -> Result<DateTime<Utc>, Error> {
        self.inner.now().await
    }

    async fn job_insert_many(
        &self,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        let results = self.inner.job_insert_many(params).await?;
        if self.fault == Fault::LostFirstInsertReply && !self.inserted.swap(true, Ordering::SeqCst)
        {
            return Err(Error::new(
                ErrorKind::OutcomeUnknown,
                "test: the reply to the first insert is lost",
            ));
        }
        Ok(results)
    }

    async fn job_fetch_available(
        &self,
        params: JobFetchAvailableParams,
    ) -> Result<Vec<JobRow>, Error> {
        self.inner.job_fetch_available(params).await
    }

    async fn job_finish_many(&self, params: JobFinishManyParams) -> Result<Vec<JobId>, Error> {
        let first = !self.done.swap(true, Ordering::SeqCst);
        if first && self.fault == Fault::FinishRacesHeartbeat {
            self.heartbeat_entered.notified().await;
            let applied = self.inner.job_finish_many(params).await;
            self.finish_committed.notify_one();
            return applied;
        }
        let applied = self.inner.job_finish_many(params).await?;
        if first && self.fault == Fault::LostFirstReply {
            return Err(Error::new(
                ErrorKind::OutcomeUnknown,
                "test: the reply to the first finish is lost",
            ));
        }
        Ok(applied)
    }

    async fn job_heartbeat_many(
        &self,
        params: JobHeartbeatManyParams,
    ) -> Result<JobHeartbeatResult, Error> {
        self.beats.send_modify(|n| *n += 1);
        if self.fault == Fault::FinishRacesHeartbeat && !self.beat.swap(true, Ordering::SeqCst) {
            // The first heartbeat holding the job waits for its finish to commit.
            self.heartbeat_entered.notify_one();
            self.finish_committed.notified().await;
        }
        self.inner.job_heartbeat_many(params).await
    }

    async fn job_schedule(&self, params: JobScheduleParams) -> Result<Vec<QueueCount>, Error> {
        self.inner.job_schedule(params).await
    }

    async fn job_next_scheduled_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.inner.job_next_scheduled_at().await
    }

    async fn job_rescue(&self, params: JobRescueParams) -> Result<Vec<JobId>, Error> {
        self.inner.job_rescue(params).await
    }

    async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.inner.job_get(id).await
    }

    async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
        self.inner.job_list(params).await
    }

    async fn job_count_by_state(&self) -> Result<Vec<StateCount>, Error> {
        self.inner.job_count_by_state().await
    }

    async fn job_count_unfinished(&self) -> Result<Vec<StateCount>, Error> {
        self.inner.job_count_unfinished().await
    }

    async fn job_cancel(&self, params: JobCancelParams) -> Result<JobCancelResult, Error> {
        self.inner.job_cancel(params).await
    }

    async fn job_cancel_by_filter(&self, filter: JobFilter) -> Result<JobCancelManyResult, Error> {
        self.inner.job_cancel_by_filter(filter).await
    }

    async fn job_cancel_requested(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        self.inner.job_cancel_requested(params).await
    }

    async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        self.inner.job_retry_by_filter(filter).await
    }

    async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        self.inner.job_delete_by_filter(filter).await
    }

    async fn job_reschedule_by_filter(
        &self,
        params: backlog::storage::JobRescheduleParams,
    ) -> Result<Vec<JobId>, Error> {
        self.inner.job_reschedule_by_filter(params).await
    }

    async fn job_delete_finalized(&self, params: JobDeleteFinalizedParams) -> Result<u64, Error> {
        self.inner.job_delete_finalized(params).await
    }

    async fn job_purge_many(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        self.inner.job_purge_many(params).await
    }

    async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.inner.job_archive_get(id).await
    }

    async fn job_progress_set(&self, params: JobProgressSetParams) -> Result<bool, Error> {
        self.inner.job_progress_set(params).await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), Error> {
        self.inner.queue_pause(params).await
    }

    async fn queue_resume(&self, params: QueuePauseParams) -> Result<bool, Error> {
        self.inner.queue_resume(params).await
    }

    async fn queue_update(&self, params: QueueUpdateParams) -> Result<QueueInfo, Error> {
        self.inner.queue_update(params).await
    }

    async fn queue_get(&self, queue: &str) -> Result<Option<QueueInfo>, Error> {
        self.inner.queue_get(queue).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueInfo>, Error> {
        self.inner.queue_list().await
    }

    async fn rate_limit_take(&self, params: RateLimitTakeParams) -> Result<RateLimitTake, Error> {
        self.inner.rate_limit_take(params).await
    }

    async fn event_subscribe(&self) -> Result<tokio::sync::broadcast::Receiver<Event>, Error> {
        self.inner.event_subscribe().await
    }

    async fn flush_wakeups(&self) {
        self.inner.flush_wakeups().await
    }

    async fn leader_attempt_elect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.inner.leader_attempt_elect(params).await
    }

    async fn leader_attempt_reelect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.inner.leader_attempt_reelect(params).await
    }

    async fn leader_resign(&self, params: LeaderResignParams) -> Result<bool, Error> {
        self.inner.leader_resign(params).await
    }

    async fn leader_get(&self, name: &str) -> Result<Option<Leader>, Error> {
        self.inner.leader_get(name).await
    }

    async fn cron_upsert(&self, params: CronUpsertParams) -> Result<CronRow, Error> {
        self.inner.cron_upsert(params).await
    }

    async fn cron_delete(&self, name: &str) -> Result<bool, Error> {
        self.inner.cron_delete(name).await
    }

    async fn cron_list(&self) -> Result<Vec<CronRow>, Error> {
        self.inner.cron_list().await
    }

    async fn cron_tick(&self, params: CronTickParams) -> Result<Option<Vec<JobId>>, Error> {
        self.inner.cron_tick(params).await
    }

    async fn job_search(&self, params: JobSearchParams) -> Result<Vec<JobRow>, Error> {
        self.inner.job_search(params).await
    }

    async fn job_throughput(
        &self,
        params: JobThroughputParams,
    ) -> Result<Vec<ThroughputBucket>, Error> {
        self.inner.job_throughput(params).await
    }

    async fn queue_latency(&self) -> Result<Vec<QueueLatency>, Error> {
        self.inner.queue_latency().await
    }

    async fn worker_heartbeat(&self, params: WorkerHeartbeatParams) -> Result<(), Error> {
        self.inner.worker_heartbeat(params).await
    }

    async fn worker_list(&self, params: WorkerListParams) -> Result<Vec<WorkerRow>, Error> {
        self.inner.worker_list(params).await
    }

    async fn worker_delete(&self, id: &str) -> Result<bool, Error> {
        self.inner.worker_delete(id).await
    }

    async fn idempotency_prune(&self, params: IdempotencyPruneParams) -> Result<u64, Error> {
        self.inner.idempotency_prune(params).await
    }

    async fn workflow_insert(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        self.inner.workflow_insert(params).await
    }

    async fn workflow_list(&self, params: WorkflowListParams) -> Result<Vec<WorkflowRow>, Error> {
        self.inner.workflow_list(params).await
    }

    async fn workflow_get(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, Error> {
        self.inner.workflow_get(id).await
    }

    async fn workflow_jobs(&self, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error> {
        self.inner.workflow_jobs(id).await
    }

    async fn workflow_retry(&self, id: WorkflowId) -> Result<Vec<JobId>, Error> {
        self.inner.workflow_retry(id).await
    }

    async fn job_dependency_results(&self, id: JobId) -> Result<Vec<DependencyResult>, Error> {
        self.inner.job_dependency_results(id).await
    }

    async fn batch_create(&self, params: BatchCreateParams) -> Result<BatchId, Error> {
        self.inner.batch_create(params).await
    }

    async fn batch_add(
        &self,
        params: BatchAddParams,
    ) -> Result<Vec<backlog::InsertOutcome>, Error> {
        self.inner.batch_add(params).await
    }

    async fn batch_seal(&self, id: BatchId) -> Result<BatchRow, Error> {
        self.inner.batch_seal(id).await
    }

    async fn batch_get(&self, id: BatchId) -> Result<Option<BatchRow>, Error> {
        self.inner.batch_get(id).await
    }

    async fn batch_list(&self, params: BatchListParams) -> Result<Vec<BatchRow>, Error> {
        self.inner.batch_list(params).await
    }

    async fn workflow_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.inner.workflow_prune(params).await
    }

    async fn batch_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.inner.batch_prune(params).await
    }
}
