//! Claims from fair queues (partition keys), inside the limited fetch's transaction (the
//! queue's settings row is locked, so fair claims of one queue take turns across processes and
//! the per-key limit holds). The sharing rules live in [`backlog_storage::FairGroup`]'s module;
//! this runs the statements.

use std::collections::HashMap;

use backlog_storage::{
    choose, first_shares, top_up, Error, FairCandidate, FairGroup, JobFetchAvailableParams,
};
use backlog_types::JobRow;
use deadpool_postgres::GenericClient;

use crate::storage::micros;
use crate::{error, row};

const KEYS: &str = include_str!("../sql/fair_keys.sql");
const RUNNING: &str = include_str!("../sql/fair_running.sql");
const JOBS: &str = include_str!("../sql/fair_jobs.sql");
const UNKEYED_JOBS: &str = include_str!("../sql/fair_unkeyed_jobs.sql");
const CLAIM: &str = include_str!("../sql/job_claim_ids.sql");
const CURSOR_SET: &str = include_str!("../sql/queue_cursor_set.sql");

/// A fair queue's settings, as the claim needs them.
pub(crate) struct Fairness {
    /// Most jobs of one key running at once, if limited.
    pub(crate) per_key: Option<i32>,
    /// The last key a claim served.
    pub(crate) cursor: Option<String>,
}

/// Claims up to `max` jobs of a fair queue, sharing them among its keys.
pub(crate) async fn claim<C: GenericClient + Sync>(
    client: &C,
    params: &JobFetchAvailableParams,
    max: u32,
    fairness: &Fairness,
) -> Result<Vec<JobRow>, Error> {
    let cursor = fairness.cursor.clone().unwrap_or_default();
    let limit = i32::try_from(max).unwrap_or(i32::MAX);
    let statement = client.prepare_cached(KEYS).await.map_err(error::pg)?;
    let keys: Vec<String> = client
        .query(&statement, &[&params.queue, &cursor, &limit])
        .await
        .map_err(error::pg)?
        .iter()
        .map(|r| r.try_get(0).map_err(error::decode))
        .collect::<Result<_, _>>()?;
    let running: HashMap<String, i64> = match fairness.per_key {
        Some(_) if !keys.is_empty() => {
            let statement = client.prepare_cached(RUNNING).await.map_err(error::pg)?;
            client
                .query(&statement, &[&params.queue, &keys])
                .await
                .map_err(error::pg)?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(error::decode)?
        }
        _ => HashMap::new(),
    };
    let mut groups: Vec<FairGroup> = keys
        .into_iter()
        .map(|key| {
            let room = match fairness.per_key {
                None => max,
                Some(limit) => {
                    let used = running.get(&key).copied().unwrap_or(0);
                    u32::try_from((i64::from(limit) - used).max(0)).unwrap_or(0)
                }
            };
            FairGroup {
                key: Some(key),
                room,
            }
        })
        .collect();
    groups.push(FairGroup {
        key: None,
        room: max,
    });
    let shares = first_shares(max, &groups);
    let first = read(client, params, &groups, &shares, &vec![0; groups.len()]).await?;
    let mut got = vec![0u32; groups.len()];
    for c in &first {
        got[c.group] += 1;
    }
    let extra = top_up(max, &groups, &shares, &got);
    let more = if extra.iter().any(|n| *n > 0) {
        read(client, params, &groups, &extra, &shares).await?
    } else {
        Vec::new()
    };
    let (ids, served) = choose(max, &groups, first, more);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = client.prepare_cached(CLAIM).await.map_err(error::pg)?;
    let rows = client
        .query(
            &statement,
            &[&ids, &params.worker_id, &micros(params.lease), &params.now],
        )
        .await
        .map_err(error::pg)?;
    let mut jobs = row::job_rows(&rows)?;
    // In the order chosen: turn by turn over the keys.
    let order: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    jobs.sort_by_key(|j| order.get(&j.id).copied());
    if let Some(group) = served {
        let statement = client.prepare_cached(CURSOR_SET).await.map_err(error::pg)?;
        client
            .execute(&statement, &[&params.queue, &groups[group].key])
            .await
            .map_err(error::pg)?;
    }
    Ok(jobs)
}

/// Each group's next jobs: `limits[i]` of group `i` after skipping `offsets[i]`.
async fn read<C: GenericClient + Sync>(
    client: &C,
    params: &JobFetchAvailableParams,
    groups: &[FairGroup],
    limits: &[u32],
    offsets: &[u32],
) -> Result<Vec<FairCandidate>, Error> {
    let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let (mut keys, mut lims, mut offs, mut positions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        if limits[i] == 0 {
            continue;
        }
        match &group.key {
            Some(key) => {
                keys.push(key.clone());
                lims.push(as_i32(limits[i]));
                offs.push(as_i32(offsets[i]));
                positions.push(i);
            }
            None => {
                let statement = client
                    .prepare_cached(UNKEYED_JOBS)
                    .await
                    .map_err(error::pg)?;
                let rows = client
                    .query(
                        &statement,
                        &[
                            &params.queue,
                            &i64::from(limits[i]),
                            &i64::from(offsets[i]),
                            &params.kinds,
                        ],
                    )
                    .await
                    .map_err(error::pg)?;
                for (turn, r) in rows.iter().enumerate() {
                    out.push(FairCandidate {
                        id: r.try_get(0).map_err(error::decode)?,
                        group: i,
                        turn: offsets[i] + turn as u32,
                    });
                }
            }
        }
    }
    if !keys.is_empty() {
        let statement = client.prepare_cached(JOBS).await.map_err(error::pg)?;
        let rows = client
            .query(
                &statement,
                &[&params.queue, &keys, &lims, &offs, &params.kinds],
            )
            .await
            .map_err(error::pg)?;
        for r in &rows {
            let pos: i64 = r.try_get("pos").map_err(error::decode)?;
            let turn: i32 = r.try_get("turn").map_err(error::decode)?;
            let group = usize::try_from(pos - 1)
                .ok()
                .and_then(|p| positions.get(p).copied())
                .ok_or_else(|| error::decode(std::fmt::Error))?;
            out.push(FairCandidate {
                id: r.try_get("id").map_err(error::decode)?,
                group,
                turn: turn.unsigned_abs(),
            });
        }
    }
    Ok(out)
}
