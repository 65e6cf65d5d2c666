//! Cancelling jobs and the other operator writes: cancelling one job, cancelling, retrying,
//! deleting or rescheduling jobs by filter and purging finalized jobs by id (cancelled jobs of
//! workflows and batches are settled in the same transaction); and the read-only poll of
//! cancellation requests (`job_cancel_requested`).

use backlog_storage::{
    Error, JobCancelManyResult, JobCancelParams, JobCancelResult, JobFilter, JobIdsParams,
    JobRescheduleParams, CANCELLABLE_STATES, DELETABLE_STATES, RESCHEDULABLE_STATES,
    RETRYABLE_STATES,
};
use backlog_types::JobId;

use crate::row::{self, PgJobState};
use crate::storage::ids;
use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn job_cancel_impl(
        &self,
        params: JobCancelParams,
    ) -> Result<JobCancelResult, Error> {
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

    pub(crate) async fn job_cancel_by_filter_impl(
        &self,
        filter: JobFilter,
    ) -> Result<JobCancelManyResult, Error> {
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

    pub(crate) async fn job_retry_by_filter_impl(
        &self,
        filter: JobFilter,
    ) -> Result<Vec<JobId>, Error> {
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

    pub(crate) async fn job_delete_by_filter_impl(
        &self,
        filter: JobFilter,
    ) -> Result<Vec<JobId>, Error> {
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

    pub(crate) async fn job_reschedule_by_filter_impl(
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

    pub(crate) async fn job_purge_many_impl(
        &self,
        params: JobIdsParams,
    ) -> Result<Vec<JobId>, Error> {
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

    pub(crate) async fn job_cancel_requested_impl(
        &self,
        params: JobIdsParams,
    ) -> Result<Vec<JobId>, Error> {
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
}

fn state_names(states: &[backlog_types::JobState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}
