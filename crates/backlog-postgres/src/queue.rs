//! Flow control on PostgreSQL: fetching from queues with settings (pause, `max_running`, rate
//! limit), queue administration and rate-limit buckets.
//!
//! # How a fetch honours the queue's settings
//!
//! The ordinary fetch statement (`job_fetch_available.sql`) claims nothing when the queue has a
//! settings row that pauses or limits it; queues without one pay a primary-key probe and no
//! extra round trip. Only when that fetch comes back empty does [`PgStorage::fetch_limited`]
//! run, in one transaction:
//!
//! 1. lock the queue's settings row `FOR UPDATE` (no row with a setting: nothing to do; paused:
//!    nothing to claim), so limited fetches of one queue take turns across processes;
//! 2. count the queue's running jobs, in a new statement: under READ COMMITTED it sees every
//!    claim committed by the previous lock holder, which a single statement could not (its
//!    snapshot predates the lock wait);
//! 3. take rate-limit tokens for the remaining room;
//! 4. claim at most that many, and give back the tokens of jobs that were not there.
//!
//! A queue whose last fetch found limiting settings is remembered (in this process), and its
//! next fetches start with the limited path instead of a fast-path claim that would return
//! nothing: one round trip less per claim on fair or limited queues. A queue found fair and
//! otherwise unlimited (the common fair queue) is claimed from in one round trip: `BEGIN`, the
//! lock of step 1, the fair claim (which reads the cursor and the per-key limit from the locked
//! row itself, and takes nothing if the row no longer says fair only) and `COMMIT`, pipelined. The memory is only a guess
//! about where to start: a remembered queue whose settings are gone is forgotten and claimed
//! from by the fast path in the same fetch, and a queue that became limited is caught by the
//! fast path's own check.
//!
//! So `max_running` is never exceeded, whatever the number of fetchers and processes. A fair
//! queue (one that received jobs with a partition key) takes the same path, and step 4 is the
//! fair claim of `src/fair.rs`, which shares the claim among the keys and keeps each key within
//! `partition_max_running`. Only jobs claimed under that limit are counted (and indexed) as
//! running per key: setting the limit marks the queue's running keyed jobs in the transaction
//! that writes it, after winning the settings row's lock, so no claim slips between the two.

use std::collections::BTreeMap;
use std::time::Duration;

use backlog_storage::{
    queue_bucket, Error, JobFetchAvailableParams, QueueInfo, QueuePauseParams, QueueUpdateParams,
    RateLimit, RateLimitTake, RateLimitTakeParams,
};
use backlog_types::{JobRow, JobState};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

use crate::storage::micros;
use crate::{error, row, PgStorage};

pub(crate) const FETCH: &str = include_str!("../sql/job_fetch_available.sql");
const LOCK: &str = include_str!("../sql/job_fetch_available_lock.sql");
const RUNNING: &str = include_str!("../sql/job_fetch_available_running.sql");
const REFUND: &str = include_str!("../sql/job_fetch_available_refund.sql");
const TAKE: &str = include_str!("../sql/rate_limit_take.sql");
const BEGIN: &str = include_str!("../sql/transaction_begin.sql");
const COMMIT: &str = include_str!("../sql/transaction_commit.sql");
const QUEUE_GET: &str = include_str!("../sql/queue_get.sql");
const QUEUE_LIST: &str = include_str!("../sql/queue_list.sql");
const QUEUE_UPDATE: &str = include_str!("../sql/queue_update.sql");
const QUEUE_PARTITION_COUNT: &str = include_str!("../sql/queue_partition_count.sql");

impl PgStorage {
    /// The fetch: fast path first, the limited path when it found nothing; a queue last found
    /// fair and otherwise unlimited takes the pipelined fair claim first.
    pub(crate) async fn fetch(
        &self,
        params: &JobFetchAvailableParams,
    ) -> Result<Vec<JobRow>, Error> {
        let remembered = self
            .inner
            .limited
            .lock()
            .ok()
            .and_then(|l| l.get(&params.queue).copied());
        match remembered {
            None => {
                let client = self.client().await?;
                let rows = claim(&client, params, i64::from(params.max), false).await?;
                if !rows.is_empty() {
                    return Ok(rows);
                }
            }
            Some(Restricted::Fair) => {
                if let Some(rows) = self.fetch_fair(params).await? {
                    return Ok(rows);
                }
                // No longer fair only: the limited path reads what it is now.
            }
            Some(Restricted::Limited) => {}
        }
        let limited = self.fetch_limited(params).await?;
        if let Ok(mut memory) = self.inner.limited.lock() {
            match &limited {
                Some((restricted, _)) => memory.insert(params.queue.clone(), *restricted),
                None => memory.remove(&params.queue),
            };
        }
        match limited {
            Some((_, rows)) => Ok(rows),
            // Remembered as limited, but no setting limits it any more: the fast path.
            None if remembered.is_some() => {
                let client = self.client().await?;
                claim(&client, params, i64::from(params.max), false).await
            }
            None => Ok(Vec::new()),
        }
    }

    /// The fair claim of a queue last found fair and otherwise unlimited, in one round trip:
    /// `BEGIN`, the settings row's lock, the claim (guarded: it takes nothing unless the locked
    /// row still says fair only) and `COMMIT`, pipelined. Pipelined up to the `COMMIT`, the
    /// transaction ends whatever happens to this future after its first poll. `None`: the
    /// queue is no longer fair only (paused, limited, or its settings gone), nothing was claimed.
    async fn fetch_fair(
        &self,
        params: &JobFetchAvailableParams,
    ) -> Result<Option<Vec<JobRow>>, Error> {
        let client = self.client().await?;
        let prepare = |sql| client.prepare_cached(sql);
        let (begin, lock, enter, fair_claim, leave, commit) = tokio::try_join!(
            prepare(BEGIN),
            prepare(LOCK),
            prepare(crate::plan::ENTER),
            prepare(crate::fair::CLAIM),
            prepare(crate::plan::LEAVE),
            prepare(COMMIT),
        )
        .map_err(error::pg)?;
        let args = crate::fair::ClaimArgs::new(params, params.max, true);
        let claim_params = args.params(params);
        let lock_params: [&(dyn ToSql + Sync); 1] = [&params.queue];
        let (begun, locked, entered, claimed, left, committed) = tokio::join!(
            client.query(&begin, &[]),
            client.query(&lock, &lock_params),
            client.query(&enter, &[]),
            client.query(&fair_claim, &claim_params),
            client.query(&leave, &[]),
            client.query(&commit, &[]),
        );
        // The first failure is the cause; those after it are the aborted transaction's.
        begun.map_err(error::pg)?;
        let locked = locked.map_err(error::pg)?;
        entered.map_err(error::pg)?;
        let claimed = claimed.map_err(error::pg)?;
        left.map_err(error::pg)?;
        committed.map_err(error::pg)?;
        match locked.first() {
            Some(settings) if restricted(settings)? == Restricted::Fair => {
                crate::fair::ordered(&args, &claimed).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The limited path (see the module docs): what restricts the queue and the jobs claimed.
    /// `None`: no setting limits the queue (the fast path is the one to take).
    async fn fetch_limited(
        &self,
        params: &JobFetchAvailableParams,
    ) -> Result<Option<(Restricted, Vec<JobRow>)>, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let lock = tx.prepare_cached(LOCK).await.map_err(error::pg)?;
        let settings = tx
            .query_opt(&lock, &[&params.queue])
            .await
            .map_err(error::pg)?;
        let Some(settings) = settings else {
            // No setting limits the queue.
            tx.commit().await.map_err(error::pg)?;
            return Ok(None);
        };
        let restriction = restricted(&settings)?;
        let paused: bool = settings.try_get("paused").map_err(error::decode)?;
        if paused {
            tx.commit().await.map_err(error::pg)?;
            return Ok(Some((restriction, Vec::new())));
        }
        let max_running: Option<i32> = settings.try_get("max_running").map_err(error::decode)?;
        let mut room = i64::from(params.max);
        if let Some(max_running) = max_running {
            let statement = tx.prepare_cached(RUNNING).await.map_err(error::pg)?;
            let running: i64 = tx
                .query_one(&statement, &[&params.queue])
                .await
                .map_err(error::pg)?
                .try_get("count")
                .map_err(error::decode)?;
            room = room.min(i64::from(max_running) - running);
        }
        let rate = rate_limit(&settings)?;
        let mut granted = room;
        if let (Some(limit), true) = (rate, room > 0) {
            let want = u32::try_from(room).unwrap_or(u32::MAX);
            let take = take(&tx, &queue_bucket(&params.queue), limit, want, params).await?;
            granted = i64::from(take.granted);
        }
        let fair: bool = settings.try_get("fair").map_err(error::decode)?;
        let rows = if granted <= 0 {
            Vec::new()
        } else if fair {
            let max = u32::try_from(granted).unwrap_or(u32::MAX);
            crate::fair::claim(&tx, params, max, false).await?
        } else {
            claim(&tx, params, granted, true).await?
        };
        let unused = granted - rows.len() as i64;
        if rate.is_some() && unused > 0 {
            let statement = tx.prepare_cached(REFUND).await.map_err(error::pg)?;
            let unused = i32::try_from(unused).unwrap_or(i32::MAX);
            tx.execute(&statement, &[&queue_bucket(&params.queue), &unused])
                .await
                .map_err(error::pg)?;
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(Some((restriction, rows)))
    }

    pub(crate) async fn rate_limit_take_impl(
        &self,
        params: &RateLimitTakeParams,
    ) -> Result<RateLimitTake, Error> {
        let client = self.client().await?;
        let now = params.now;
        take_at(&client, &params.key, params.limit, params.want, now).await
    }

    pub(crate) async fn queue_update_impl(&self, params: &QueueUpdateParams) -> Result<(), Error> {
        let max_running = params
            .max_running
            .flatten()
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        let rate = params.rate_limit.flatten();
        let rate_max = rate.map(|r| i32::try_from(r.max).unwrap_or(i32::MAX));
        let rate_period = rate.map(|r| micros(r.period).max(1));
        let partition_max = params
            .partition_max_running
            .flatten()
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let statement = tx.prepare_cached(QUEUE_UPDATE).await.map_err(error::pg)?;
        tx.execute(
            &statement,
            &[
                &params.queue,
                &params.max_running.is_some(),
                &max_running,
                &params.rate_limit.is_some(),
                &rate_max,
                &rate_period,
                &params.partition_max_running.is_some(),
                &partition_max,
            ],
        )
        .await
        .map_err(error::pg)?;
        if partition_max.is_some() {
            // The jobs already running count against the new limit: marked by a statement of
            // its own, after the settings row's lock was won (see the SQL file).
            let statement = tx
                .prepare_cached(QUEUE_PARTITION_COUNT)
                .await
                .map_err(error::pg)?;
            tx.execute(&statement, &[&params.queue])
                .await
                .map_err(error::pg)?;
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(())
    }

    pub(crate) async fn queue_get_impl(&self, queue: &str) -> Result<Option<QueueInfo>, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(QUEUE_GET).await.map_err(error::pg)?;
        let rows = client
            .query(&statement, &[&queue])
            .await
            .map_err(error::pg)?;
        rows.first().map(queue_info).transpose()
    }

    pub(crate) async fn queue_list_impl(&self) -> Result<Vec<QueueInfo>, Error> {
        let client = self.client().await?;
        let statement = client.prepare_cached(QUEUE_LIST).await.map_err(error::pg)?;
        let rows = client.query(&statement, &[]).await.map_err(error::pg)?;
        rows.iter().map(queue_info).collect()
    }

    pub(crate) async fn queue_pause_impl(&self, params: QueuePauseParams) -> Result<(), Error> {
        self.execute(
            include_str!("../sql/queue_pause.sql"),
            &[&params.queue, &params.now],
        )
        .await
        .map(drop)
    }

    pub(crate) async fn queue_resume_impl(&self, params: QueuePauseParams) -> Result<bool, Error> {
        let rows = self
            .query(
                include_str!("../sql/queue_resume.sql"),
                &[&params.queue, &params.now, &self.notify_channel()],
            )
            .await?;
        Ok(!rows.is_empty())
    }
}

/// The claim statement's own arguments, beside the [`JobFetchAvailableParams`] it reads.
pub(crate) struct ClaimArgs {
    max: i64,
    lease_us: i64,
    limited: bool,
}

impl ClaimArgs {
    pub(crate) fn new(params: &JobFetchAvailableParams, max: u32, limited: bool) -> ClaimArgs {
        ClaimArgs {
            max: i64::from(max),
            lease_us: micros(params.lease),
            limited,
        }
    }

    /// The parameters of `job_fetch_available.sql`, in order (also sent by src/insert_fetch.rs).
    pub(crate) fn params<'a>(
        &'a self,
        params: &'a JobFetchAvailableParams,
    ) -> [&'a (dyn ToSql + Sync); 7] {
        [
            &params.queue,
            &self.max,
            &params.worker_id,
            &self.lease_us,
            &params.now,
            &self.limited,
            &params.kinds,
        ]
    }
}

/// Runs the claim statement on `client` for at most `max` jobs.
async fn claim<C: GenericClient + Sync>(
    client: &C,
    params: &JobFetchAvailableParams,
    max: i64,
    limited: bool,
) -> Result<Vec<JobRow>, Error> {
    let args = ClaimArgs {
        max,
        lease_us: micros(params.lease),
        limited,
    };
    // A generic plan (src/plan.rs): its shape is pinned by tests/plans.rs like the custom one.
    let rows = crate::plan::query(client, FETCH, &args.params(params)).await?;
    row::job_rows(&rows)
}

async fn take<C: GenericClient + Sync>(
    client: &C,
    key: &str,
    limit: RateLimit,
    want: u32,
    params: &JobFetchAvailableParams,
) -> Result<RateLimitTake, Error> {
    take_at(client, key, limit, want, params.now).await
}

async fn take_at<C: GenericClient + Sync>(
    client: &C,
    key: &str,
    limit: RateLimit,
    want: u32,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<RateLimitTake, Error> {
    let statement = client.prepare_cached(TAKE).await.map_err(error::pg)?;
    let max = i32::try_from(limit.max).unwrap_or(i32::MAX);
    let want = i32::try_from(want).unwrap_or(i32::MAX);
    let row = client
        .query_one(
            &statement,
            &[&key, &max, &micros(limit.period).max(1), &want, &now],
        )
        .await
        .map_err(error::pg)?;
    let granted: i32 = row.try_get("granted").map_err(error::decode)?;
    let tokens: f64 = row.try_get("tokens").map_err(error::decode)?;
    Ok(RateLimitTake {
        granted: u32::try_from(granted).unwrap_or(0),
        tokens_left: tokens,
        retry_after: limit.wait_for_token(tokens),
    })
}

/// What this process last found about a queue the fast-path claim takes nothing from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restricted {
    /// Fair, and neither paused nor limited: [`PgStorage::fetch_fair`] claims in one round trip.
    Fair,
    /// Paused, limited or rate-limited (fair or not): the limited path's several statements.
    Limited,
}

/// Reads the locked settings row (`job_fetch_available_lock.sql`).
fn restricted(settings: &Row) -> Result<Restricted, Error> {
    let paused: bool = settings.try_get("paused").map_err(error::decode)?;
    let fair: bool = settings.try_get("fair").map_err(error::decode)?;
    let max_running: Option<i32> = settings.try_get("max_running").map_err(error::decode)?;
    let rate_max: Option<i32> = settings.try_get("rate_max").map_err(error::decode)?;
    Ok(
        if fair && !paused && max_running.is_none() && rate_max.is_none() {
            Restricted::Fair
        } else {
            Restricted::Limited
        },
    )
}

fn rate_limit(row: &Row) -> Result<Option<RateLimit>, Error> {
    let max: Option<i32> = row.try_get("rate_max").map_err(error::decode)?;
    let period: Option<i64> = row.try_get("rate_period_us").map_err(error::decode)?;
    Ok(match (max, period) {
        (Some(max), Some(period)) => Some(RateLimit {
            max: u32::try_from(max).unwrap_or(0),
            period: Duration::from_micros(u64::try_from(period).unwrap_or(0)),
        }),
        _ => None,
    })
}

fn queue_info(row: &Row) -> Result<QueueInfo, Error> {
    let counts: Json<BTreeMap<String, i64>> = row.try_get("counts").map_err(error::decode)?;
    let mut by_state = BTreeMap::new();
    for (state, count) in counts.0 {
        let state: JobState = state.parse().map_err(error::decode)?;
        by_state.insert(state, count.unsigned_abs());
    }
    let max_running: Option<i32> = row.try_get("max_running").map_err(error::decode)?;
    Ok(QueueInfo {
        name: row.try_get("name").map_err(error::decode)?,
        paused_at: row.try_get("paused_at").map_err(error::decode)?,
        max_running: max_running.map(|n| n.unsigned_abs()),
        rate_limit: rate_limit(row)?,
        updated_at: row.try_get("updated_at").map_err(error::decode)?,
        fair: row
            .try_get::<_, Option<bool>>("fair")
            .map_err(error::decode)?
            .unwrap_or(false),
        partition_max_running: row
            .try_get::<_, Option<i32>>("partition_max_running")
            .map_err(error::decode)?
            .map(|n| n.unsigned_abs()),
        counts: by_state,
    })
}
