//! The maintenance services' statements: the scheduler (`job_schedule`,
//! `job_next_scheduled_at`), the rescuer (`job_rescue`, which settles the jobs it discards) and
//! the cleaner (`job_delete_finalized`, and the answer of its workflow and batch sweeps).

use backlog_storage::{
    Error, JobDeleteFinalizedParams, JobRescueParams, JobScheduleParams, Pruned, QueueCount,
};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::storage::{ids, NoRow};
use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn job_schedule_impl(
        &self,
        params: JobScheduleParams,
    ) -> Result<Vec<QueueCount>, Error> {
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

    pub(crate) async fn job_next_scheduled_at_impl(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let rows = self
            .query(include_str!("../sql/job_next_scheduled_at.sql"), &[])
            .await?;
        let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
        row.try_get("next").map_err(error::decode)
    }

    pub(crate) async fn job_rescue_impl(
        &self,
        params: JobRescueParams,
    ) -> Result<Vec<JobId>, Error> {
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

    pub(crate) async fn job_delete_finalized_impl(
        &self,
        params: JobDeleteFinalizedParams,
    ) -> Result<u64, Error> {
        let rows = self
            .query(
                include_str!("../sql/job_delete_finalized.sql"),
                &[
                    &params.completed_before,
                    &params.cancelled_before,
                    &params.discarded_before,
                    &i64::from(params.max),
                    &params.archive,
                    &params.latest_cutoff(),
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
}

/// The answer of `workflow_prune.sql` or `batch_prune.sql`, whose window was `limit` rows.
pub(crate) fn pruned(rows: &[Row], limit: u32) -> Result<Pruned, Error> {
    let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
    let deleted: i64 = row.try_get("deleted").map_err(error::decode)?;
    let examined: i64 = row.try_get("examined").map_err(error::decode)?;
    let last: Option<i64> = row.try_get("last").map_err(error::decode)?;
    Ok(Pruned::window(
        deleted.max(0) as u64,
        examined.max(0) as u64,
        last,
        limit,
    ))
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
