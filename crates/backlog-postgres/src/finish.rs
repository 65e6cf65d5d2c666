//! The writes of a running execution, each fenced by its lease token: recording outcomes
//! (`job_finish_many`, which settles workflow and batch jobs in the same transaction), renewing
//! leases (`job_heartbeat_many`) and recording progress (`job_progress_set`).

use std::sync::atomic::Ordering;

use backlog_storage::{
    Error, JobFinishManyParams, JobHeartbeatManyParams, JobHeartbeatResult, JobProgressSetParams,
};
use backlog_types::JobId;
use tokio_postgres::types::ToSql;

use crate::storage::{ids, micros};
use crate::{error, PgStorage};

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

impl PgStorage {
    pub(crate) async fn job_finish_many_impl(
        &self,
        params: JobFinishManyParams,
    ) -> Result<Vec<JobId>, Error> {
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

    pub(crate) async fn job_heartbeat_many_impl(
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

    pub(crate) async fn job_progress_set_impl(
        &self,
        params: JobProgressSetParams,
    ) -> Result<bool, Error> {
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
}
