//! Decoding rows of `backlog_job` into [`JobRow`].

use std::error::Error as StdError;

use backlog_storage::Error;
use backlog_types::{AttemptError, JobRow, JobState, LeaseToken};
use tokio_postgres::types::{FromSql, Json, Kind, Type};
use tokio_postgres::Row;

use crate::error;

/// A `backlog_job_state` enum value (sent as its label, like text).
pub(crate) struct PgJobState(pub(crate) JobState);

impl<'a> FromSql<'a> for PgJobState {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(PgJobState(std::str::from_utf8(raw)?.parse()?))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Enum(_)) || *ty == Type::TEXT
    }
}

/// Decodes a full `backlog_job` row (`SELECT *` or `RETURNING *`).
pub(crate) fn job_row(row: &Row) -> Result<JobRow, Error> {
    let errors: Json<Vec<AttemptError>> = row.try_get("errors").map_err(error::decode)?;
    let state: PgJobState = row.try_get("state").map_err(error::decode)?;
    let lease_token: Option<&[u8]> = row.try_get("lease_token").map_err(error::decode)?;
    Ok(JobRow {
        id: row.try_get("id").map_err(error::decode)?,
        state: state.0,
        queue: row.try_get("queue").map_err(error::decode)?,
        kind: row.try_get("kind").map_err(error::decode)?,
        args: row.try_get("args").map_err(error::decode)?,
        priority: row.try_get("priority").map_err(error::decode)?,
        attempt: row.try_get("attempt").map_err(error::decode)?,
        max_attempts: row.try_get("max_attempts").map_err(error::decode)?,
        scheduled_at: row.try_get("scheduled_at").map_err(error::decode)?,
        created_at: row.try_get("created_at").map_err(error::decode)?,
        attempted_at: row.try_get("attempted_at").map_err(error::decode)?,
        finalized_at: row.try_get("finalized_at").map_err(error::decode)?,
        lease_expires_at: row.try_get("lease_expires_at").map_err(error::decode)?,
        attempted_by: row.try_get("attempted_by").map_err(error::decode)?,
        errors: errors.0,
        attempt_durations_us: row.try_get("attempt_durations_us").map_err(error::decode)?,
        tags: row.try_get("tags").map_err(error::decode)?,
        metadata: row.try_get("metadata").map_err(error::decode)?,
        rescue_count: row.try_get("rescue_count").map_err(error::decode)?,
        cancel_requested_at: row.try_get("cancel_requested_at").map_err(error::decode)?,
        fingerprint: row.try_get("fingerprint").map_err(error::decode)?,
        result: row.try_get("result").map_err(error::decode)?,
        progress: row.try_get("progress").map_err(error::decode)?,
        lease_token: lease_token
            .map(LeaseToken::try_from)
            .transpose()
            .map_err(error::decode)?,
        timeout_ms: row.try_get("timeout_ms").map_err(error::decode)?,
        backoff: row.try_get("backoff").map_err(error::decode)?,
        expires_at: row.try_get("expires_at").map_err(error::decode)?,
        partition_key: row.try_get("partition_key").map_err(error::decode)?,
    })
}

/// Decodes every row with [`job_row`].
pub(crate) fn job_rows(rows: &[Row]) -> Result<Vec<JobRow>, Error> {
    rows.iter().map(job_row).collect()
}
