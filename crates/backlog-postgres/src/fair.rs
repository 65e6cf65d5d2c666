//! Claims from fair queues (partition keys), inside the limited fetch's transaction (the
//! queue's settings row is locked, so fair claims of one queue take turns across processes and
//! the per-key limit holds). The sharing rules are [`backlog_storage::FairGroup`]'s module's;
//! on PostgreSQL one statement (`sql/fair_claim.sql`) applies them, lists the keys, reads their
//! jobs, claims them and moves the cursor. For a queue that is fair and otherwise unlimited,
//! src/queue.rs sends the lock, the claim and the commit pipelined: one round trip per claim,
//! as for a plain queue. The statement returns the jobs unordered with the keys in claim order;
//! the turn order is put back here.

use std::collections::HashMap;

use backlog_storage::{choose, Error, FairCandidate, JobFetchAvailableParams};
use backlog_types::{JobId, JobRow};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::storage::micros;
use crate::{error, row};

pub(crate) const CLAIM: &str = include_str!("../sql/fair_claim.sql");

/// Claims up to `max` jobs of a fair queue, sharing them among its keys; the jobs come back
/// turn by turn over the keys. Runs after the queue's settings row was locked in the same
/// transaction; with `guard`, claims nothing unless the queue is still fair, not paused and
/// otherwise unlimited (see the SQL file).
pub(crate) async fn claim<C: GenericClient + Sync>(
    client: &C,
    params: &JobFetchAvailableParams,
    max: u32,
    guard: bool,
) -> Result<Vec<JobRow>, Error> {
    let args = ClaimArgs::new(params, max, guard);
    // A generic plan, like the plain claim's (src/plan.rs); both pinned by tests/plans.rs.
    let rows = crate::plan::query(client, CLAIM, &args.params(params)).await?;
    ordered(&args, &rows)
}

/// The fair claim statement's arguments.
pub(crate) struct ClaimArgs {
    guard: bool,
    max: i32,
    lease_us: i64,
}

impl ClaimArgs {
    pub(crate) fn new(params: &JobFetchAvailableParams, max: u32, guard: bool) -> ClaimArgs {
        ClaimArgs {
            guard,
            max: i32::try_from(max).unwrap_or(i32::MAX),
            lease_us: micros(params.lease),
        }
    }

    /// The parameters of `fair_claim.sql`, in order.
    pub(crate) fn params<'a>(
        &'a self,
        params: &'a JobFetchAvailableParams,
    ) -> [&'a (dyn ToSql + Sync); 7] {
        [
            &params.queue,
            &self.guard,
            &self.max,
            &params.kinds,
            &params.worker_id,
            &self.lease_us,
            &params.now,
        ]
    }
}

/// The statement's rows as jobs, in the claim's order.
pub(crate) fn ordered(args: &ClaimArgs, rows: &[Row]) -> Result<Vec<JobRow>, Error> {
    let mut keys: Option<Vec<String>> = None;
    let mut jobs = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(listed) = r
            .try_get::<_, Option<Vec<String>>>("claim_keys")
            .map_err(error::decode)?
        {
            keys = Some(listed);
        }
        jobs.push(row::job_row(r)?);
    }
    Ok(in_turn_order(args.max, &keys.unwrap_or_default(), jobs))
}

/// Puts the claimed jobs back in the claim's order, as `backlog_storage::choose` chose them:
/// turn by turn over `keys` (the keys in claim order), then the top-up. A key's jobs take their
/// turns in run order; those past the first read's share were the top-up's (a key gives more
/// than its share only after filling it), and so were the jobs without a key.
fn in_turn_order(max: i32, keys: &[String], jobs: Vec<JobRow>) -> Vec<JobRow> {
    let max = u32::try_from(max).unwrap_or(0);
    let share = max
        .div_ceil(u32::try_from(keys.len()).unwrap_or(u32::MAX).max(1))
        .max(1);
    let unkeyed = keys.len();
    let place: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut grouped: Vec<(usize, JobRow)> = jobs
        .into_iter()
        .map(|job| {
            let group = job
                .partition_key
                .as_deref()
                .and_then(|k| place.get(k).copied())
                .unwrap_or(unkeyed);
            (group, job)
        })
        .collect();
    // Run order within each group: the order its index walk read the jobs in.
    grouped.sort_by(|(ga, a), (gb, b)| {
        ga.cmp(gb)
            .then(b.priority.cmp(&a.priority))
            .then(a.scheduled_at.cmp(&b.scheduled_at))
            .then(a.id.cmp(&b.id))
    });
    let (mut first, mut more) = (Vec::new(), Vec::new());
    let mut turn = 0;
    let mut previous = None;
    for (group, job) in &grouped {
        turn = if previous == Some(*group) {
            turn + 1
        } else {
            0
        };
        previous = Some(*group);
        let candidate = FairCandidate {
            id: job.id,
            group: *group,
            turn,
        };
        if *group != unkeyed && turn < share {
            first.push(candidate);
        } else {
            more.push(candidate);
        }
    }
    // Only the order is wanted here; the groups' rooms and the cursor were the statement's.
    let (order, _) = choose(u32::MAX, &[], first, more);
    let mut by_id: HashMap<JobId, JobRow> = grouped.into_iter().map(|(_, j)| (j.id, j)).collect();
    order.iter().filter_map(|id| by_id.remove(id)).collect()
}
