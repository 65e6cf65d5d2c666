//! Claims from fair queues (partition keys), on the writer thread inside its transaction. The
//! sharing rules live in [`backlog_storage::FairGroup`]'s module; this runs the statements.

use backlog_storage::{
    choose, first_shares, top_up, Error, FairCandidate, FairGroup, JobFetchAvailableParams,
};
use backlog_types::JobRow;
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::error::{decode, from_sqlite};
use crate::row::job_rows;
use crate::sql;

/// A fair queue's settings, as the claim needs them.
pub(crate) struct Fairness {
    /// Most jobs of one key running at once, if limited.
    pub(crate) per_key: Option<i64>,
    /// The last key a claim served.
    pub(crate) cursor: Option<String>,
}

/// Claims up to `params.max` jobs of a fair queue, sharing them among its keys.
pub(crate) fn claim(
    conn: &Connection,
    params: &JobFetchAvailableParams,
    fairness: &Fairness,
) -> Result<Vec<JobRow>, Error> {
    let max = params.max;
    let kinds = if params.kinds.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&params.kinds).map_err(|e| decode("kinds", e))?)
    };
    let keys = keys(conn, &params.queue, fairness.cursor.as_deref(), max)?;
    let mut groups = Vec::with_capacity(keys.len() + 1);
    for key in keys {
        let room = match fairness.per_key {
            None => max,
            Some(limit) => {
                let running: i64 = conn
                    .prepare_cached(sql::FAIR_KEY_RUNNING)
                    .and_then(|mut s| {
                        s.query_row(named_params! { ":queue": params.queue, ":key": key }, |r| {
                            r.get(0)
                        })
                    })
                    .map_err(from_sqlite)?;
                u32::try_from((limit - running).max(0)).unwrap_or(0)
            }
        };
        groups.push(FairGroup {
            key: Some(key),
            room,
        });
    }
    groups.push(FairGroup {
        key: None,
        room: max,
    });
    let shares = first_shares(max, &groups);
    let read = |limits: &[u32], offsets: &[u32]| -> Result<Vec<FairCandidate>, Error> {
        let mut out = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            if limits[i] == 0 {
                continue;
            }
            let statement = match group.key {
                Some(_) => sql::FAIR_KEY_JOBS,
                None => sql::FAIR_UNKEYED_JOBS,
            };
            let mut statement = conn.prepare_cached(statement).map_err(from_sqlite)?;
            let mut rows = match &group.key {
                Some(key) => statement.query(named_params! {
                    ":queue": params.queue, ":key": key, ":kinds": kinds,
                    ":limit": limits[i], ":offset": offsets[i],
                }),
                None => statement.query(named_params! {
                    ":queue": params.queue, ":kinds": kinds,
                    ":limit": limits[i], ":offset": offsets[i],
                }),
            }
            .map_err(from_sqlite)?;
            let mut turn = offsets[i];
            while let Some(row) = rows.next().map_err(from_sqlite)? {
                out.push(FairCandidate {
                    id: row.get(0).map_err(from_sqlite)?,
                    group: i,
                    turn,
                });
                turn += 1;
            }
        }
        Ok(out)
    };
    let first = read(&shares, &vec![0; groups.len()])?;
    let mut got = vec![0u32; groups.len()];
    for c in &first {
        got[c.group] += 1;
    }
    let extra = top_up(max, &groups, &shares, &got);
    let more = if extra.iter().any(|n| *n > 0) {
        read(&extra, &shares)?
    } else {
        Vec::new()
    };
    let (ids, cursor) = choose(max, &groups, first, more);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids_json = serde_json::to_string(&ids).map_err(|e| decode("ids", e))?;
    let mut jobs = {
        let mut statement = conn
            .prepare_cached(sql::JOB_CLAIM_IDS)
            .map_err(from_sqlite)?;
        let rows = statement
            .query(named_params! { ":ids": ids_json })
            .map_err(from_sqlite)?;
        job_rows(rows)?
    };
    // In the order chosen: turn by turn over the keys.
    let order: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    jobs.sort_by_key(|j| order.get(&j.id).copied());
    crate::queue::claim_rows(conn, &mut jobs, params)?;
    if let Some(group) = cursor {
        conn.prepare_cached(sql::QUEUE_CURSOR_SET)
            .and_then(|mut s| {
                s.execute(named_params! {
                    ":queue": params.queue,
                    ":cursor": groups[group].key,
                })
            })
            .map_err(from_sqlite)?;
    }
    Ok(jobs)
}

/// Up to `max` keys with available jobs, in key order after `cursor`, wrapping around to the
/// keys up to and including it.
fn keys(
    conn: &Connection,
    queue: &str,
    cursor: Option<&str>,
    max: u32,
) -> Result<Vec<String>, Error> {
    let mut statement = conn
        .prepare_cached(sql::FAIR_KEY_NEXT)
        .map_err(from_sqlite)?;
    let mut next = |after: &str| -> Result<Option<String>, Error> {
        statement
            .query_row(named_params! { ":queue": queue, ":after": after }, |r| {
                r.get(0)
            })
            .optional()
            .map_err(from_sqlite)
    };
    let mut keys = Vec::new();
    let mut after = cursor.unwrap_or("").to_owned();
    while keys.len() < max as usize {
        match next(&after)? {
            Some(key) => {
                after.clone_from(&key);
                keys.push(key);
            }
            None => break,
        }
    }
    if let Some(cursor) = cursor {
        let mut after = String::new();
        while keys.len() < max as usize {
            match next(&after)? {
                Some(key) if key.as_str() <= cursor => {
                    after.clone_from(&key);
                    keys.push(key);
                }
                _ => break,
            }
        }
    }
    Ok(keys)
}
