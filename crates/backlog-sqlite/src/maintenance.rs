//! The maintenance services' statements: the scheduler (`job_schedule`,
//! `job_next_scheduled_at`), the rescuer (`job_rescue`) and the cleaner (`job_delete_finalized`).

use std::collections::BTreeMap;

use backlog_storage::{Error, JobDeleteFinalizedParams, QueueCount};
use backlog_types::JobId;
use chrono::{DateTime, Utc};
use rusqlite::{named_params, Connection};

use crate::error::from_sqlite;
use crate::{sql, time};

/// Makes due jobs available; returns counts per queue, sorted by queue.
pub(crate) fn job_schedule(
    conn: &Connection,
    now: DateTime<Utc>,
    max: u32,
) -> Result<Vec<QueueCount>, Error> {
    let mut statement = conn
        .prepare_cached(sql::JOB_SCHEDULE)
        .map_err(from_sqlite)?;
    let mut rows = statement
        .query(named_params! { ":now": time::encode(now), ":max": max })
        .map_err(from_sqlite)?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        *counts.entry(row.get(0).map_err(from_sqlite)?).or_default() += 1;
    }
    Ok(counts
        .into_iter()
        .map(|(queue, count)| QueueCount { queue, count })
        .collect())
}

/// The earliest `scheduled_at` of waiting jobs.
pub(crate) fn job_next_scheduled_at(conn: &Connection) -> Result<Option<DateTime<Utc>>, Error> {
    let text: Option<String> = conn
        .prepare_cached(sql::JOB_NEXT_SCHEDULED_AT)
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)?;
    text.map(|t| time::decode("scheduled_at", &t)).transpose()
}

/// Rescues running jobs whose lease expired; returns their ids in ascending order.
pub(crate) fn job_rescue(
    conn: &Connection,
    now: DateTime<Utc>,
    max: u32,
    poison: i32,
) -> Result<(Vec<JobId>, Vec<JobId>), Error> {
    let mut statement = conn.prepare_cached(sql::JOB_RESCUE).map_err(from_sqlite)?;
    let rows = statement
        .query_map(
            named_params! { ":now": time::encode(now), ":max": max, ":poison": poison },
            |row| Ok((row.get::<_, JobId>(0)?, row.get::<_, bool>(1)?)),
        )
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(from_sqlite)?;
    let mut ids: Vec<JobId> = rows.iter().map(|(id, _)| *id).collect();
    let discarded = rows.iter().filter(|(_, f)| *f).map(|(id, _)| *id).collect();
    ids.sort_unstable();
    Ok((ids, discarded))
}

/// Deletes finalized jobs past their cutoff; returns how many.
pub(crate) fn job_delete_finalized(
    conn: &Connection,
    params: &JobDeleteFinalizedParams,
) -> Result<u64, Error> {
    let ids: Vec<JobId> = conn
        .prepare_cached(sql::JOB_DELETE_FINALIZED)
        .and_then(|mut s| {
            s.query_map(
                named_params! {
                    ":completed_before": params.completed_before.map(time::encode),
                    ":cancelled_before": params.cancelled_before.map(time::encode),
                    ":discarded_before": params.discarded_before.map(time::encode),
                    ":latest_before": params.latest_cutoff().map(time::encode),
                    ":max": params.max,
                },
                |row| row.get(0),
            )?
            .collect()
        })
        .map_err(from_sqlite)?;
    let now = time::encode(time::now());
    let mut archive = conn
        .prepare_cached(sql::JOB_ARCHIVE_ONE)
        .map_err(from_sqlite)?;
    let mut delete = conn
        .prepare_cached(sql::JOB_DELETE_ONE)
        .map_err(from_sqlite)?;
    for id in &ids {
        if params.archive {
            archive
                .execute(named_params! { ":id": id, ":now": now })
                .map_err(from_sqlite)?;
        }
        delete
            .execute(named_params! { ":id": id })
            .map_err(from_sqlite)?;
    }
    Ok(ids.len() as u64)
}
