//! Claims from fair queues (partition keys), inside the limited fetch's transaction (the
//! queue's settings row is locked, so fair claims of one queue take turns across processes and
//! the per-key limit holds). The sharing rules are [`backlog_storage::FairGroup`]'s module's;
//! on PostgreSQL one statement (`sql/fair_claim.sql`) applies them, lists the keys, reads their
//! jobs, claims them and moves the cursor, so a fair claim costs one round trip after the lock.

use backlog_storage::{Error, JobFetchAvailableParams};
use backlog_types::JobRow;
use deadpool_postgres::GenericClient;

use crate::storage::micros;
use crate::{error, row};

const CLAIM: &str = include_str!("../sql/fair_claim.sql");

/// A fair queue's settings, as the claim needs them.
pub(crate) struct Fairness {
    /// Most jobs of one key running at once, if limited.
    pub(crate) per_key: Option<i32>,
    /// The last key a claim served.
    pub(crate) cursor: Option<String>,
}

/// Claims up to `max` jobs of a fair queue, sharing them among its keys; the jobs come back
/// turn by turn over the keys.
pub(crate) async fn claim<C: GenericClient + Sync>(
    client: &C,
    params: &JobFetchAvailableParams,
    max: u32,
    fairness: &Fairness,
) -> Result<Vec<JobRow>, Error> {
    let cursor = fairness.cursor.clone().unwrap_or_default();
    let max = i32::try_from(max).unwrap_or(i32::MAX);
    // A generic plan, like the plain claim's (src/plan.rs); both pinned by tests/plans.rs.
    let rows = crate::plan::query(
        client,
        CLAIM,
        &[
            &params.queue,
            &cursor,
            &max,
            &fairness.per_key,
            &params.kinds,
            &params.worker_id,
            &micros(params.lease),
            &params.now,
        ],
    )
    .await?;
    // In the order chosen: turn by turn over the keys.
    let mut ordered = Vec::with_capacity(rows.len());
    for r in &rows {
        let order: i64 = r.try_get("claim_order").map_err(error::decode)?;
        ordered.push((order, row::job_row(r)?));
    }
    ordered.sort_by_key(|(order, _)| *order);
    Ok(ordered.into_iter().map(|(_, job)| job).collect())
}
