//! `impl Storage for SqliteStorage`: picks the connection for each method (the writer thread for
//! writes, the read pool for reads) and sends the wake-ups after commit. The statements run in
//! the module named after the method's group (see the crate docs' layout), synchronously on the
//! connection given.

use async_trait::async_trait;
use backlog_storage::{
    check_batch_jobs, check_callback, check_workflow, BatchAddParams, BatchCreateParams, BatchId,
    BatchListParams, BatchRow, CronRow, CronTickParams, CronUpsertParams, DedupedBatch,
    DependencyResult, Error, Event, IdempotencyPruneParams, JobCancelManyResult, JobCancelParams,
    JobCancelResult, JobDeleteFinalizedParams, JobFetchAvailableParams, JobFilter,
    JobFinishManyParams, JobHeartbeatManyParams, JobHeartbeatResult, JobIdsParams,
    JobInsertManyParams, JobInsertResult, JobListParams, JobProgressSetParams, JobRescheduleParams,
    JobRescueParams, JobScheduleParams, JobSearchParams, JobThroughputParams, Leader,
    LeaderElectParams, LeaderResignParams, MigrationRunParams, MigrationStatus, PruneParams,
    Pruned, QueueCount, QueueInfo, QueueLatency, QueuePauseParams, QueueUpdateParams,
    RateLimitTake, RateLimitTakeParams, StateCount, Storage, ThroughputBucket,
    WorkerHeartbeatParams, WorkerListParams, WorkerRow, WorkflowId, WorkflowInsertParams,
    WorkflowInsertResult, WorkflowJob, WorkflowListParams, WorkflowRow, CANCELLABLE_STATES,
    DELETABLE_STATES, RESCHEDULABLE_STATES, RETRYABLE_STATES,
};
use backlog_types::{JobId, JobRow};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::{
    batch, cancel, dashboard, finish, idempotency, insert, inspect, leader_cron, maintenance,
    migrate, notify, queue, settle, sql, time, workflow, SqliteStorage,
};

#[async_trait]
impl Storage for SqliteStorage {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn migration_list(&self) -> Result<Vec<MigrationStatus>, Error> {
        self.read(migrate::list).await
    }

    async fn migration_run(&self, params: MigrationRunParams) -> Result<Vec<u32>, Error> {
        self.write(move |tx| migrate::run(tx, &params)).await
    }

    async fn now(&self) -> Result<DateTime<Utc>, Error> {
        Ok(time::now())
    }

    async fn job_insert_many(
        &self,
        params: JobInsertManyParams,
    ) -> Result<Vec<JobInsertResult>, Error> {
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        backlog_storage::check_idempotency(&params.jobs)?;
        let mut deduped = DedupedBatch::new(params.jobs);
        let jobs = std::mem::take(&mut deduped.jobs);
        let now = time::now();
        // The encoded jobs come back to be freed off the writer thread that every write waits
        // for (about 3 % of that thread's time in a bulk insert), and after the caller has its
        // answer (`insert::free_later`).
        let written = if jobs.len() >= insert::PIPELINE_JOBS {
            self.insert_pipelined(jobs, now).await
        } else {
            let batch = insert::InsertBatch::new(jobs, now);
            let notifier = self.notifier().clone();
            self.write(move |tx| {
                let sent = insert::job_insert_many(tx, &batch)?;
                // Before the commit, so the watcher never takes these jobs for another
                // process's.
                notifier.inserted(&sent);
                Ok((sent, vec![batch]))
            })
            .await
        };
        let (sent, batches) = written.inspect_err(|_| self.notifier().insert_failed())?;
        let results = deduped.results(&sent);
        self.notifier().job_available(
            batches
                .iter()
                .flat_map(|b| b.available.iter().map(String::as_str)),
        );
        insert::free_later(batches);
        Ok(results)
    }

    async fn job_fetch_available(
        &self,
        params: JobFetchAvailableParams,
    ) -> Result<Vec<JobRow>, Error> {
        if params.max == 0 {
            return Ok(Vec::new());
        }
        // A claim is a lease, not data: see Writer::run_relaxed.
        self.write_relaxed(move |tx| queue::job_fetch_available(tx, &params))
            .await
    }

    async fn job_finish_many(&self, params: JobFinishManyParams) -> Result<Vec<JobId>, Error> {
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.write_notifying(move |tx| {
            let (applied, queues) = finish::job_finish_many(tx, &params.jobs, time::now())?;
            Ok((
                applied,
                notify::available(queues.iter().map(String::as_str)),
            ))
        })
        .await
    }

    async fn job_heartbeat_many(
        &self,
        params: JobHeartbeatManyParams,
    ) -> Result<JobHeartbeatResult, Error> {
        if params.jobs.is_empty() {
            return Ok(JobHeartbeatResult::default());
        }
        self.write_relaxed(move |tx| {
            let lease_expires_at = time::add(time::now(), params.lease);
            finish::job_heartbeat_many(tx, &params.jobs, &lease_expires_at)
        })
        .await
    }

    async fn job_schedule(&self, params: JobScheduleParams) -> Result<Vec<QueueCount>, Error> {
        self.write_notifying(move |tx| {
            let counts =
                maintenance::job_schedule(tx, params.now.unwrap_or_else(time::now), params.max)?;
            let events = notify::available(counts.iter().map(|c| c.queue.as_str()));
            Ok((counts, events))
        })
        .await
    }

    async fn job_next_scheduled_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        self.read(maintenance::job_next_scheduled_at).await
    }

    async fn job_rescue(&self, params: JobRescueParams) -> Result<Vec<JobId>, Error> {
        self.write_notifying(move |tx| {
            let now = params.now.unwrap_or_else(time::now);
            let (ids, discarded) =
                maintenance::job_rescue(tx, now, params.max, params.poison_threshold)?;
            let queues = settle::settle(tx, discarded, now)?;
            Ok((ids, notify::available(queues.iter().map(String::as_str))))
        })
        .await
    }

    async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.read(move |conn| inspect::job_get(conn, id)).await
    }

    async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
        self.read(move |conn| inspect::job_list(conn, &params))
            .await
    }

    async fn job_count_by_state(&self) -> Result<Vec<StateCount>, Error> {
        self.read(inspect::job_count_by_state).await
    }

    async fn job_count_unfinished(&self) -> Result<Vec<StateCount>, Error> {
        self.read(inspect::job_count_unfinished).await
    }

    async fn job_cancel(&self, params: JobCancelParams) -> Result<JobCancelResult, Error> {
        self.write_notifying(move |tx| {
            let now = time::now();
            let result = cancel::job_cancel(tx, &params, now)?;
            let cancelled = match &result {
                JobCancelResult::Cancelled(job) => vec![job.id],
                _ => Vec::new(),
            };
            let queues = settle::settle(tx, cancelled, now)?;
            let mut events = notify::available(queues.iter().map(String::as_str));
            if let JobCancelResult::CancelRequested(job) = &result {
                events.push(Event::CancelRequested { ids: vec![job.id] });
            }
            Ok((result, events))
        })
        .await
    }

    async fn job_cancel_by_filter(&self, filter: JobFilter) -> Result<JobCancelManyResult, Error> {
        filter.check()?;
        let states = filter.states_among(&CANCELLABLE_STATES);
        self.write_notifying(move |tx| {
            let now = time::now();
            let result = cancel::job_cancel_by_filter(tx, &filter, &states, now)?;
            let queues = settle::settle(tx, result.cancelled.clone(), now)?;
            let mut events = notify::available(queues.iter().map(String::as_str));
            if !result.cancel_requested.is_empty() {
                events.push(Event::CancelRequested {
                    ids: result.cancel_requested.clone(),
                });
            }
            Ok((result, events))
        })
        .await
    }

    async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        filter.check()?;
        let states = filter.states_among(&RETRYABLE_STATES);
        self.write_notifying(move |tx| {
            let (ids, queues) = cancel::job_retry_by_filter(tx, &filter, &states, time::now())?;
            Ok((ids, notify::available(queues.iter().map(String::as_str))))
        })
        .await
    }

    async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        filter.check()?;
        let states = filter.states_among(&DELETABLE_STATES);
        self.write(move |tx| cancel::job_delete_by_filter(tx, &filter, &states))
            .await
    }

    async fn job_reschedule_by_filter(
        &self,
        params: JobRescheduleParams,
    ) -> Result<Vec<JobId>, Error> {
        params.check()?;
        let states = params.filter.states_among(&RESCHEDULABLE_STATES);
        self.write_notifying(move |tx| {
            let (ids, queues) =
                cancel::job_reschedule_by_filter(tx, &params, &states, time::now())?;
            Ok((ids, notify::available(queues.iter().map(String::as_str))))
        })
        .await
    }

    async fn job_delete_finalized(&self, params: JobDeleteFinalizedParams) -> Result<u64, Error> {
        self.write(move |tx| maintenance::job_delete_finalized(tx, &params))
            .await
    }

    async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        self.read(move |conn| inspect::job_archive_get(conn, id))
            .await
    }

    async fn job_cancel_requested(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        if params.ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::Value::from(params.ids).to_string();
        self.read(move |conn| cancel::job_cancel_requested(conn, &ids))
            .await
    }

    async fn job_purge_many(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        if params.ids.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |tx| cancel::job_purge_many(tx, &params.ids))
            .await
    }

    async fn job_progress_set(&self, params: JobProgressSetParams) -> Result<bool, Error> {
        let progress = params.progress.to_string();
        self.write(move |tx| finish::job_progress_set(tx, &params, &progress))
            .await
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), Error> {
        self.write(move |tx| queue::queue_pause(tx, &params)).await
    }

    async fn queue_resume(&self, params: QueuePauseParams) -> Result<bool, Error> {
        self.write_notifying(move |tx| {
            let resumed = queue::queue_resume(tx, &params)?;
            let events = if resumed {
                vec![Event::QueueResumed {
                    queue: params.queue,
                }]
            } else {
                Vec::new()
            };
            Ok((resumed, events))
        })
        .await
    }

    async fn queue_update(&self, params: QueueUpdateParams) -> Result<QueueInfo, Error> {
        self.write(move |tx| queue::queue_update(tx, &params)).await
    }

    async fn queue_get(&self, queue: &str) -> Result<Option<QueueInfo>, Error> {
        let queue = queue.to_owned();
        self.read(move |conn| queue::queue_get(conn, &queue)).await
    }

    async fn queue_list(&self) -> Result<Vec<QueueInfo>, Error> {
        self.read(queue::queue_list).await
    }

    async fn rate_limit_take(&self, params: RateLimitTakeParams) -> Result<RateLimitTake, Error> {
        self.write(move |tx| {
            let now = params.now.unwrap_or_else(time::now);
            queue::rate_limit_take(tx, &params.key, params.limit, params.want, now)
        })
        .await
    }

    async fn event_subscribe(&self) -> Result<broadcast::Receiver<Event>, Error> {
        // May wait for the watcher's first look (`notify.rs`), a read of the file.
        let notifier = self.notifier().clone();
        tokio::task::spawn_blocking(move || notifier.subscribe())
            .await
            .map_err(|e| {
                Error::new(backlog_storage::ErrorKind::Database, "subscribing failed")
                    .with_source(e)
            })
    }

    async fn leader_attempt_elect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.write(move |tx| {
            let now = params.now.unwrap_or_else(time::now);
            leader_cron::leader_elect(tx, sql::LEADER_ATTEMPT_ELECT, &params, now)
        })
        .await
    }

    async fn leader_attempt_reelect(&self, params: LeaderElectParams) -> Result<bool, Error> {
        self.write(move |tx| {
            let now = params.now.unwrap_or_else(time::now);
            leader_cron::leader_reelect(tx, &params, now)
        })
        .await
    }

    async fn leader_resign(&self, params: LeaderResignParams) -> Result<bool, Error> {
        self.write_notifying(move |tx| {
            let resigned = leader_cron::leader_resign(tx, &params)?;
            let events = if resigned {
                vec![Event::LeaderResigned { name: params.name }]
            } else {
                Vec::new()
            };
            Ok((resigned, events))
        })
        .await
    }

    async fn leader_get(&self, name: &str) -> Result<Option<Leader>, Error> {
        let name = name.to_owned();
        self.read(move |conn| leader_cron::leader_get(conn, &name))
            .await
    }

    async fn cron_upsert(&self, params: CronUpsertParams) -> Result<CronRow, Error> {
        self.write_notifying(move |tx| {
            let now = params.now.unwrap_or_else(time::now);
            Ok((
                leader_cron::cron_upsert(tx, &params, now)?,
                vec![Event::CronChanged],
            ))
        })
        .await
    }

    async fn cron_delete(&self, name: &str) -> Result<bool, Error> {
        let name = name.to_owned();
        self.write_notifying(move |tx| {
            let deleted = leader_cron::cron_delete(tx, &name)?;
            let events = if deleted {
                vec![Event::CronChanged]
            } else {
                Vec::new()
            };
            Ok((deleted, events))
        })
        .await
    }

    async fn cron_list(&self) -> Result<Vec<CronRow>, Error> {
        self.read(leader_cron::cron_list).await
    }

    async fn cron_tick(&self, mut params: CronTickParams) -> Result<Option<Vec<JobId>>, Error> {
        let jobs = std::mem::take(&mut params.jobs);
        let batch = (!jobs.is_empty()).then(|| insert::InsertBatch::new(jobs, time::now()));
        let queues = batch
            .as_ref()
            .map(|b| b.available.clone())
            .unwrap_or_default();
        let ids = self
            .write(move |tx| leader_cron::cron_tick(tx, &params, batch.as_ref()))
            .await?;
        if ids.is_some() {
            self.notifier()
                .job_available(queues.iter().map(String::as_str));
        }
        Ok(ids)
    }

    async fn job_search(&self, params: JobSearchParams) -> Result<Vec<JobRow>, Error> {
        self.read(move |conn| dashboard::job_search(conn, &params))
            .await
    }

    async fn job_throughput(
        &self,
        params: JobThroughputParams,
    ) -> Result<Vec<ThroughputBucket>, Error> {
        self.read(move |conn| dashboard::job_throughput(conn, &params))
            .await
    }

    async fn queue_latency(&self) -> Result<Vec<QueueLatency>, Error> {
        self.read(dashboard::queue_latency).await
    }

    async fn worker_heartbeat(&self, params: WorkerHeartbeatParams) -> Result<(), Error> {
        let now = params.now.unwrap_or_else(time::now);
        self.write(move |tx| dashboard::worker_heartbeat(tx, &params, now))
            .await
    }

    async fn worker_list(&self, params: WorkerListParams) -> Result<Vec<WorkerRow>, Error> {
        self.read(move |conn| dashboard::worker_list(conn, &params))
            .await
    }

    async fn worker_delete(&self, id: &str) -> Result<bool, Error> {
        let id = id.to_owned();
        self.write(move |tx| dashboard::worker_delete(tx, &id))
            .await
    }

    async fn idempotency_prune(&self, params: IdempotencyPruneParams) -> Result<u64, Error> {
        self.write(move |tx| idempotency::prune(tx, &params)).await
    }

    async fn workflow_insert(
        &self,
        params: WorkflowInsertParams,
    ) -> Result<WorkflowInsertResult, Error> {
        let checked = check_workflow(&params)?;
        let encoded = workflow::encode(params, &checked, time::now());
        let queues = encoded.jobs.available.clone();
        let result = self
            .write(move |tx| workflow::insert(tx, &encoded, &checked, time::now()))
            .await?;
        self.notifier()
            .job_available(queues.iter().map(String::as_str));
        Ok(result)
    }

    async fn workflow_list(&self, params: WorkflowListParams) -> Result<Vec<WorkflowRow>, Error> {
        self.read(move |conn| workflow::list(conn, None, &params))
            .await
    }

    async fn workflow_get(&self, id: WorkflowId) -> Result<Option<WorkflowRow>, Error> {
        let params = WorkflowListParams {
            before_id: None,
            limit: 1,
        };
        Ok(self
            .read(move |conn| workflow::list(conn, Some(id), &params))
            .await?
            .pop())
    }

    async fn workflow_jobs(&self, id: WorkflowId) -> Result<Vec<WorkflowJob>, Error> {
        self.read(move |conn| workflow::jobs(conn, id)).await
    }

    async fn workflow_retry(&self, id: WorkflowId) -> Result<Vec<JobId>, Error> {
        self.write_notifying(move |tx| {
            let (ids, queues) = workflow::retry(tx, id, time::now())?;
            Ok((ids, notify::available(queues.iter().map(String::as_str))))
        })
        .await
    }

    async fn job_dependency_results(&self, id: JobId) -> Result<Vec<DependencyResult>, Error> {
        self.read(move |conn| workflow::dependency_results(conn, id))
            .await
    }

    async fn batch_create(&self, params: BatchCreateParams) -> Result<BatchId, Error> {
        if let Some(callback) = &params.callback {
            check_callback(callback)?;
        }
        self.write(move |tx| batch::create(tx, &params, time::now()))
            .await
    }

    async fn batch_add(&self, params: BatchAddParams) -> Result<Vec<JobInsertResult>, Error> {
        check_batch_jobs(&params.jobs)?;
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(params.jobs.len()).unwrap_or(i64::MAX);
        let insert = insert::InsertBatch::new(params.jobs, time::now());
        let queues = insert.available.clone();
        let id = params.batch;
        let inserted = self.write(move |tx| batch::add(tx, id, &insert, n)).await?;
        self.notifier()
            .job_available(queues.iter().map(String::as_str));
        Ok(inserted)
    }

    async fn batch_seal(&self, id: BatchId) -> Result<BatchRow, Error> {
        self.write_notifying(move |tx| {
            let (batch, queues) = batch::seal(tx, id, time::now())?;
            Ok((batch, notify::available(queues.iter().map(String::as_str))))
        })
        .await
    }

    async fn batch_get(&self, id: BatchId) -> Result<Option<BatchRow>, Error> {
        self.read(move |conn| batch::get(conn, id)).await
    }

    async fn batch_list(&self, params: BatchListParams) -> Result<Vec<BatchRow>, Error> {
        self.read(move |conn| batch::list(conn, &params)).await
    }

    async fn workflow_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.write(move |tx| workflow::prune(tx, params)).await
    }

    async fn batch_prune(&self, params: PruneParams) -> Result<Pruned, Error> {
        self.write(move |tx| batch::prune(tx, params)).await
    }
}
