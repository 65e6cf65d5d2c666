//! Reading jobs: one by id (`job_get`, `job_archive_get` for archived ones), a filtered list
//! (`job_list`) and counts per queue and state (`job_count_by_state`, and
//! `job_count_unfinished` through the partial indexes).

use backlog_storage::{Error, JobListParams, StateCount};
use backlog_types::{JobId, JobRow};

use crate::row::{self, PgJobState};
use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn job_get_impl(&self, id: JobId) -> Result<Option<JobRow>, Error> {
        let rows = self
            .query(include_str!("../sql/job_get.sql"), &[&id])
            .await?;
        rows.first().map(row::job_row).transpose()
    }

    pub(crate) async fn job_list_impl(&self, params: JobListParams) -> Result<Vec<JobRow>, Error> {
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

    pub(crate) async fn job_count_by_state_impl(&self) -> Result<Vec<StateCount>, Error> {
        let rows = self
            .query(include_str!("../sql/job_count_by_state.sql"), &[])
            .await?;
        state_counts(&rows)
    }

    pub(crate) async fn job_count_unfinished_impl(&self) -> Result<Vec<StateCount>, Error> {
        let rows = self
            .query(include_str!("../sql/job_count_unfinished.sql"), &[])
            .await?;
        state_counts(&rows)
    }

    pub(crate) async fn job_archive_get_impl(&self, id: JobId) -> Result<Option<JobRow>, Error> {
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
}

/// Rows of `queue`, `state`, `count`.
fn state_counts(rows: &[tokio_postgres::Row]) -> Result<Vec<StateCount>, Error> {
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
