//! `impl Storage for PgStorage`: each method binds its parameters to the statement in
//! `sql/<method>.sql` and decodes the rows.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use backlog_storage::{
    BatchAddParams, BatchCreateParams, BatchId, BatchListParams, BatchRow, CronRow, CronTickParams,
    CronUpsertParams, DedupedBatch, DependencyResult, Error, Event, IdempotencyPruneParams,
    JobCancelManyResult, JobCancelParams, JobCancelResult, JobDeleteFinalizedParams,
    JobFetchAvailableParams, JobFilter, JobFinishManyParams, JobHeartbeatManyParams,
    JobHeartbeatResult, JobIdsParams, JobInsertManyParams, JobInsertResult, JobListParams,
    JobProgressSetParams, JobRescheduleParams, JobRescueParams, JobScheduleParams, JobSearchParams,
    JobThroughputParams, Leader, LeaderElectParams, LeaderResignParams, MigrationRunParams,
    MigrationStatus, PruneParams, QueueCount, QueueInfo, QueueLatency, QueuePauseParams,
    QueueUpdateParams, RateLimitTake, RateLimitTakeParams, StateCount, Storage, ThroughputBucket,
    WorkerHeartbeatParams, WorkerListParams, WorkerRow, WorkflowId, WorkflowInsertParams,
    WorkflowInsertResult, WorkflowJob, WorkflowListParams, WorkflowRow, CANCELLABLE_STATES,
    DELETABLE_STATES, RESCHEDULABLE_STATES, RETRYABLE_STATES,
};
use backlog_types::{JobId, JobRow};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::insert::{self, InsertArrays};
use crate::row::{self, PgJobState};
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

const FINISH_MANY: &str = include_str!("../sql/job_finish_many.sql");

/// The columns of `job_finish_many.sql`, one entry per ended execution.
struct FinishArrays {
    ids: Vec<JobId>,
    tokens: Vec<Vec<u8>>,
    states: Vec<&'static str>,
    delays: Vec<Option<i64>>,
    messages: Vec<Option<String>>,
    panicked: Vec<bool>,
    durations: Vec<i64>,
    results: Vec<Option<serde_json::Value>>,
    kinds: Vec<Option<String>>,
    backtraces: Vec<Option<String>>,
}

impl FinishArrays {
    fn params<'a>(&'a self, settling: &'a bool) -> [&'a (dyn ToSql + Sync); 11] {
        [
            &self.ids,
            &self.tokens,
            &self.states,
            &self.delays,
            &self.messages,
            &self.panicked,
            &self.durations,
            &self.results,
            settling,
            &self.kinds,
            &self.backtraces,
        ]
    }

    /// The entries of the given jobs.
    fn only(&self, ids: &[JobId]) -> FinishArrays {
        let ids: std::collections::HashSet<JobId> = ids.iter().copied().collect();
        let mut only = FinishArrays {
            ids: Vec::new(),
            tokens: Vec::new(),
            states: Vec::new(),
            delays: Vec::new(),
            messages: Vec::new(),
            panicked: Vec::new(),
            durations: Vec::new(),
            results: Vec::new(),
            kinds: Vec::new(),
            backtraces: Vec::new(),
        };
        for (i, id) in self.ids.iter().enumerate() {
            if ids.contains(id) {
                only.ids.push(*id);
                only.tokens.push(self.tokens[i].clone());
                only.states.push(self.states[i]);
                only.delays.push(self.delays[i]);
                only.messages.push(self.messages[i].clone());
                only.panicked.push(self.panicked[i]);
                only.durations.push(self.durations[i]);
                only.results.push(self.results[i].clone());
                only.kinds.push(self.kinds[i].clone());
                only.backtraces.push(self.backtraces[i].clone());
            }
        }
        only
    }
}

impl PgStorage {
    /// Applies outcomes of workflow and batch jobs and settles them, in one transaction;
    /// returns the ids applied and wakes the queues that got available jobs after the commit.
    async fn finish_settled(&self, arrays: FinishArrays) -> Result<Vec<JobId>, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let rows = crate::plan::query(&tx, FINISH_MANY, &arrays.params(&true)).await?;
        let mut settle = Vec::new();
        for row in &rows {
            if row.try_get("settle").map_err(error::decode)? {
                settle.push(row.try_get::<_, JobId>("id").map_err(error::decode)?);
            }
        }
        self.inner
            .settling
            .store(!settle.is_empty(), Ordering::Relaxed);
        let queues = self.settle(&tx, settle).await?;
        tx.commit().await.map_err(error::pg)?;
        self.wake(queues);
        ids(&rows)
    }
}

/// The ids of the rows whose boolean column `flag` is true.
fn finalized_where(rows: &[Row], flag: &str) -> Result<Vec<JobId>, Error> {
    let mut ids = Vec::new();
    for row in rows {
        if row.try_get(flag).map_err(error::decode)? {
            ids.push(row.try_get("id").map_err(error::decode)?);
        }
    }
    Ok(ids)
}

fn ids(rows: &[Row]) -> Result<Vec<JobId>, Error> {
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
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        backlog_storage::check_idempotency(&params.jobs)?;
        let mut batch = DedupedBatch::new(params.jobs);
        let rows = match batch.jobs.as_slice() {
            [job]
                if job.unique.is_none()
                    && job.idempotency.is_none()
                    && job.partition_key.is_none() =>
            {
                // Custom-planned: a VALUES insert plans in microseconds, less than the two
                // switches of a generic plan would cost (src/plan.rs).
                self.query(
                    include_str!("../sql/job_insert_one.sql"),
                    &[
                        &job.queue,
                        &job.kind,
                        &job.args,
                        &job.priority,
                        &job.max_attempts,
                        &job.scheduled_at,
                        &job.tags,
                        &job.metadata,
                        &job.fingerprint,
                        &job.run_after.map(micros),
                        &job.timeout_ms(),
                        &job.backoff,
                        &job.expires_at,
                    ],
                )
                .await?
            }
            _ => {
                let arrays = InsertArrays::new(
                    std::mem::take(&mut batch.jobs),
                    self.notify_channel(),
                    false,
                );
                self.query_generic(arrays.sql(), &arrays.params()).await?
            }
        };
        let mut queues: Vec<String> = Vec::new();
        for row in &rows {
            if row.try_get::<_, bool>("available").map_err(error::decode)? {
                let queue: String = row.try_get("queue").map_err(error::decode)?;
                if !queues.contains(&queue) {
                    queues.push(queue);
                }
            }
        }
        self.wake(queues);
        Ok(batch.results(&insert::results(&rows)?))
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
        if params.jobs.is_empty() {
            return Ok(Vec::new());
        }
        let n = params.jobs.len();
        let mut job_ids = Vec::with_capacity(n);
        let mut tokens: Vec<Vec<u8>> = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut delays: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut messages: Vec<Option<String>> = Vec::with_capacity(n);
        let mut panicked = Vec::with_capacity(n);
        let mut durations = Vec::with_capacity(n);
        let mut results: Vec<Option<serde_json::Value>> = Vec::with_capacity(n);
        let mut kinds: Vec<Option<String>> = Vec::with_capacity(n);
        let mut backtraces: Vec<Option<String>> = Vec::with_capacity(n);
        for job in params.jobs {
            let (state, delay) = (job.outcome.state().as_str(), job.outcome.delay());
            let failure = job.outcome.into_failure();
            job_ids.push(job.id);
            tokens.push(job.lease_token.as_bytes().to_vec());
            states.push(state);
            delays.push(delay.map(micros));
            panicked.push(failure.as_ref().is_some_and(|f| f.panicked));
            match failure {
                Some(f) => {
                    messages.push(Some(f.message));
                    kinds.push(f.kind);
                    backtraces.push(f.backtrace);
                }
                None => {
                    messages.push(None);
                    kinds.push(None);
                    backtraces.push(None);
                }
            }
            durations.push(micros(job.duration));
            results.push(job.result);
        }
        let arrays = FinishArrays {
            ids: job_ids,
            tokens,
            states,
            delays,
            messages,
            panicked,
            durations,
            results,
            kinds,
            backtraces,
        };
        // Plain jobs: one autocommit statement. Final outcomes of workflow and batch jobs come
        // back deferred and are applied again in a transaction that settles them. While
        // workflows or batches are running (the previous settling write met some), writes go
        // straight to the settling transaction instead, so their jobs do not pay two statements.
        if self.inner.settling.load(Ordering::Relaxed) {
            return self.finish_settled(arrays).await;
        }
        let rows = self
            .query_generic(FINISH_MANY, &arrays.params(&false))
            .await?;
        let mut applied = Vec::with_capacity(rows.len());
        let mut deferred = Vec::new();
        for row in &rows {
            let id: JobId = row.try_get("id").map_err(error::decode)?;
            if row.try_get("deferred").map_err(error::decode)? {
                deferred.push(id);
            } else {
                applied.push(id);
            }
        }
        if !deferred.is_empty() {
            applied.extend(self.finish_settled(arrays.only(&deferred)).await?);
            applied.sort_unstable();
        }
        Ok(applied)
    }

    async fn job_heartbeat_many(
        &self,
        params: JobHeartbeatManyParams,
    ) -> Result<JobHeartbeatResult, Error> {
        if params.jobs.is_empty() {
            return Ok(JobHeartbeatResult::default());
        }
        let (job_ids, tokens): (Vec<JobId>, Vec<Vec<u8>>) = params
            .jobs
            .into_iter()
            .map(|(id, token)| (id, token.as_bytes().to_vec()))
            .unzip();
        let rows = self
            .query_generic(
                include_str!("../sql/job_heartbeat_many.sql"),
                &[&job_ids, &tokens, &micros(params.lease)],
            )
            .await?;
        let mut result = JobHeartbeatResult::default();
        for row in &rows {
            let id: JobId = row.try_get("id").map_err(error::decode)?;
            if row.try_get("lost").map_err(error::decode)? {
                result.lost.push(id);
            } else {
                result.cancel_requested.push(id);
            }
        }
        Ok(result)
    }

    async fn job_schedule(&self, params: JobScheduleParams) -> Result<Vec<QueueCount>, Error> {
        let rows = self
            .query(
                include_str!("../sql/job_schedule.sql"),
                &[&params.now, &i64::from(params.max), &self.notify_channel()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let count: i64 = row.try_get("count").map_err(error::decode)?;
                Ok(QueueCount {
                    queue: row.try_get("queue").map_err(error::decode)?,
                    count: u64::try_from(count).map_err(error::decode)?,
                })
            })
            .collect()
    }

    async fn job_next_scheduled_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let rows = self
            .query(include_str!("../sql/job_next_scheduled_at.sql"), &[])
            .await?;
        let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
        row.try_get("next").map_err(error::decode)
    }

    async fn job_rescue(&self, params: JobRescueParams) -> Result<Vec<JobId>, Error> {
        let rows = self
            .query_settled(
                include_str!("../sql/job_rescue.sql"),
                &[
                    &params.now,
                    &i64::from(params.max),
                    &params.poison_threshold,
                ],
                |rows| finalized_where(rows, "finalized"),
            )
            .await?;
        ids(&rows)
    }

    async fn job_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        let rows = self
            .query(include_str!("../sql/job_get.sql"), &[&id])
            .await?;
        rows.first().map(row::job_row).transpose()
    }

    async fn job_list(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
        let states: Vec<&str> = params.states.iter().map(|s| s.as_str()).collect();
        let rows = self
            .query(
                include_str!("../sql/job_list.sql"),
                &[
                    &states,
                    &params.queue,
                    &params.kind,
                    &params.before_id,
                    &i64::from(params.limit),
                    &params.fingerprint,
                ],
            )
            .await?;
        row::job_rows(&rows)
    }

    async fn job_count_by_state(&self) -> Result<Vec<StateCount>, Error> {
        let rows = self
            .query(include_str!("../sql/job_count_by_state.sql"), &[])
            .await?;
        rows.iter()
            .map(|row| {
                let state: PgJobState = row.try_get("state").map_err(error::decode)?;
                let count: i64 = row.try_get("count").map_err(error::decode)?;
                Ok(StateCount {
                    queue: row.try_get("queue").map_err(error::decode)?,
                    state: state.0,
                    count: u64::try_from(count).map_err(error::decode)?,
                })
            })
            .collect()
    }

    async fn job_cancel(&self, params: JobCancelParams) -> Result<JobCancelResult, Error> {
        let rows = self
            .query_settled(
                include_str!("../sql/job_cancel.sql"),
                &[
                    &params.id,
                    &params.kind,
                    &params.request_running,
                    &self.notify_channel(),
                ],
                |rows| {
                    // Settled only when it was cancelled (the row is the job before: it was
                    // waiting), not when cancellation of a running job was requested.
                    let mut cancelled = Vec::new();
                    for row in rows {
                        let before: PgJobState = row.try_get("state").map_err(error::decode)?;
                        if row.try_get("changed").map_err(error::decode)?
                            && before.0 != backlog_types::JobState::Running
                        {
                            cancelled.push(row.try_get("id").map_err(error::decode)?);
                        }
                    }
                    Ok(cancelled)
                },
            )
            .await?;
        let Some(found) = rows.first() else {
            return Ok(JobCancelResult::NotFound);
        };
        let changed: bool = found.try_get("changed").map_err(error::decode)?;
        let job = row::job_row(found)?;
        Ok(JobCancelResult::classify(
            job,
            changed,
            params.kind.as_deref(),
        ))
    }

    async fn job_cancel_by_filter(&self, filter: JobFilter) -> Result<JobCancelManyResult, Error> {
        filter.check()?;
        let states = state_names(&filter.states_among(&CANCELLABLE_STATES));
        let rows = self
            .query_settled(
                include_str!("../sql/job_cancel_by_filter.sql"),
                &[
                    &filter.ids,
                    &filter.queue,
                    &filter.kind,
                    &states,
                    &self.notify_channel(),
                ],
                |rows| {
                    let mut cancelled = Vec::new();
                    for row in rows {
                        if !row.try_get::<_, bool>("requested").map_err(error::decode)? {
                            cancelled.push(row.try_get("id").map_err(error::decode)?);
                        }
                    }
                    Ok(cancelled)
                },
            )
            .await?;
        let mut result = JobCancelManyResult::default();
        for row in &rows {
            let id: JobId = row.try_get("id").map_err(error::decode)?;
            if row.try_get("requested").map_err(error::decode)? {
                result.cancel_requested.push(id);
            } else {
                result.cancelled.push(id);
            }
        }
        Ok(result)
    }

    async fn job_retry_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        filter.check()?;
        let states = state_names(&filter.states_among(&RETRYABLE_STATES));
        let rows = self
            .query(
                include_str!("../sql/job_retry_by_filter.sql"),
                &[
                    &filter.ids,
                    &filter.queue,
                    &filter.kind,
                    &states,
                    &self.notify_channel(),
                ],
            )
            .await?;
        ids(&rows)
    }

    async fn job_delete_by_filter(&self, filter: JobFilter) -> Result<Vec<JobId>, Error> {
        filter.check()?;
        let states = state_names(&filter.states_among(&DELETABLE_STATES));
        let rows = self
            .query(
                include_str!("../sql/job_delete_by_filter.sql"),
                &[&filter.ids, &filter.queue, &filter.kind, &states],
            )
            .await?;
        let mut deleted = ids(&rows)?;
        deleted.sort_unstable();
        Ok(deleted)
    }

    async fn job_reschedule_by_filter(
        &self,
        params: JobRescheduleParams,
    ) -> Result<Vec<JobId>, Error> {
        params.check()?;
        let filter = &params.filter;
        let states = state_names(&filter.states_among(&RESCHEDULABLE_STATES));
        let rows = self
            .query(
                include_str!("../sql/job_reschedule_by_filter.sql"),
                &[
                    &filter.ids,
                    &filter.queue,
                    &filter.kind,
                    &states,
                    &params.run_at,
                    &params.priority,
                    &params.queue,
                    &self.notify_channel(),
                ],
            )
            .await?;
        ids(&rows)
    }

    async fn job_delete_finalized(&self, params: JobDeleteFinalizedParams) -> Result<u64, Error> {
        let rows = self
            .query(
                include_str!("../sql/job_delete_finalized.sql"),
                &[
                    &params.completed_before,
                    &params.cancelled_before,
                    &params.discarded_before,
                    &i64::from(params.max),
                    &params.archive,
                ],
            )
            .await?;
        let deleted: i64 = rows
            .first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(error::decode)?
            .unwrap_or(0);
        Ok(deleted.max(0) as u64)
    }

    async fn job_archive_get(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        let rows = self
            .query(include_str!("../sql/job_archive_get.sql"), &[&id])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let json: serde_json::Value = row.try_get(0).map_err(error::decode)?;
        serde_json::from_value(json).map(Some).map_err(|e| {
            Error::new(
                backlog_storage::ErrorKind::Decode,
                format!("archived job {id} does not decode: {e}"),
            )
        })
    }

    async fn job_cancel_requested(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        if params.ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                include_str!("../sql/job_cancel_requested.sql"),
                &[&params.ids],
            )
            .await?;
        ids(&rows)
    }

    async fn job_purge_many(&self, params: JobIdsParams) -> Result<Vec<JobId>, Error> {
        if params.ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .query(include_str!("../sql/job_purge_many.sql"), &[&params.ids])
            .await?;
        let mut deleted = ids(&rows)?;
        deleted.sort_unstable();
        Ok(deleted)
    }

    async fn job_progress_set(&self, params: JobProgressSetParams) -> Result<bool, Error> {
        let changed = self
            .execute(
                include_str!("../sql/job_progress_set.sql"),
                &[
                    &params.id,
                    &params.lease_token.as_bytes().as_slice(),
                    &params.progress,
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn queue_pause(&self, params: QueuePauseParams) -> Result<(), Error> {
        self.execute(
            include_str!("../sql/queue_pause.sql"),
            &[&params.queue, &params.now],
        )
        .await
        .map(drop)
    }

    async fn queue_resume(&self, params: QueuePauseParams) -> Result<bool, Error> {
        let rows = self
            .query(
                include_str!("../sql/queue_resume.sql"),
                &[&params.queue, &params.now, &self.notify_channel()],
            )
            .await?;
        Ok(!rows.is_empty())
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
        let rows = self
            .query(
                include_str!("../sql/idempotency_prune.sql"),
                &[&params.now, &i64::from(params.limit)],
            )
            .await?;
        let deleted: i64 = rows
            .first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(error::decode)?
            .unwrap_or(0);
        Ok(deleted.max(0) as u64)
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

    async fn workflow_prune(&self, params: PruneParams) -> Result<u64, Error> {
        let rows = self
            .query(
                include_str!("../sql/workflow_prune.sql"),
                &[&i64::from(params.limit)],
            )
            .await?;
        Ok(rows.len() as u64)
    }

    async fn batch_prune(&self, params: PruneParams) -> Result<u64, Error> {
        let rows = self
            .query(
                include_str!("../sql/batch_prune.sql"),
                &[&i64::from(params.limit)],
            )
            .await?;
        Ok(rows.len() as u64)
    }
}

fn state_names(states: &[backlog_types::JobState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

/// A statement that always returns one row returned none.
#[derive(Debug)]
struct NoRow;

impl std::fmt::Display for NoRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the statement returned no row")
    }
}

impl std::error::Error for NoRow {}
