//! The methods behind the HTTP API and dashboard: `job_search`, `job_throughput`,
//! `queue_latency` and the worker registry (`worker_*`).

use backlog_storage::{
    Error, JobSearchParams, JobThroughputParams, QueueLatency, ThroughputBucket,
    WorkerHeartbeatParams, WorkerListParams, WorkerRow,
};
use backlog_types::JobRow;
use chrono::{DateTime, Utc};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use crate::row::{self, PgJobState};
use crate::{error, PgStorage};

impl PgStorage {
    pub(crate) async fn job_search_impl(
        &self,
        params: JobSearchParams,
    ) -> Result<Vec<JobRow>, Error> {
        let states: Vec<&str> = params.states.iter().map(|s| s.as_str()).collect();
        let (args_path, args_value) = match &params.args {
            Some(m) => (Some(m.path.clone()), Some(m.value.clone())),
            None => (None, None),
        };
        let (meta_path, meta_value) = match &params.metadata {
            Some(m) => (Some(m.path.clone()), Some(m.value.clone())),
            None => (None, None),
        };
        let rows = self
            .query(
                include_str!("../sql/job_search.sql"),
                &[
                    &params.ids,
                    &states,
                    &params.queues,
                    &params.kinds,
                    &params.priority,
                    &params.tags,
                    &params.fingerprint,
                    &params.created_after,
                    &params.created_before,
                    &args_path,
                    &args_value,
                    &meta_path,
                    &meta_value,
                    &params.before_id,
                    &i64::from(params.limit.max(1)),
                ],
            )
            .await?;
        row::job_rows(&rows)
    }

    pub(crate) async fn job_throughput_impl(
        &self,
        params: JobThroughputParams,
    ) -> Result<Vec<ThroughputBucket>, Error> {
        let rows = self
            .query(include_str!("../sql/job_throughput.sql"), &[&params.since])
            .await?;
        rows.iter()
            .map(|row| {
                let state: PgJobState = row.try_get("state").map_err(error::decode)?;
                let count: i64 = row.try_get("count").map_err(error::decode)?;
                Ok(ThroughputBucket {
                    minute: row.try_get("minute").map_err(error::decode)?,
                    state: state.0,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    pub(crate) async fn queue_latency_impl(&self) -> Result<Vec<QueueLatency>, Error> {
        let rows = self
            .query(include_str!("../sql/queue_latency.sql"), &[])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(QueueLatency {
                    queue: row.try_get("queue").map_err(error::decode)?,
                    oldest_available_at: row
                        .try_get("oldest_available_at")
                        .map_err(error::decode)?,
                })
            })
            .collect()
    }

    pub(crate) async fn worker_heartbeat_impl(
        &self,
        params: WorkerHeartbeatParams,
    ) -> Result<(), Error> {
        let queues = Json(&params.queues);
        self.query(
            include_str!("../sql/worker_heartbeat.sql"),
            &[
                &params.id,
                &params.host,
                &params.pid,
                &params.kinds,
                &queues,
                &i32::try_from(params.capacity).unwrap_or(i32::MAX),
                &i32::try_from(params.in_flight).unwrap_or(i32::MAX),
                &params.origin,
                &params.now,
            ],
        )
        .await
        .map(drop)
    }

    pub(crate) async fn worker_list_impl(
        &self,
        params: WorkerListParams,
    ) -> Result<Vec<WorkerRow>, Error> {
        let rows = self
            .query(
                include_str!("../sql/worker_list.sql"),
                &[&params.seen_since],
            )
            .await?;
        rows.iter().map(worker_row).collect()
    }

    pub(crate) async fn worker_delete_impl(&self, id: &str) -> Result<bool, Error> {
        let rows = self
            .query(include_str!("../sql/worker_delete.sql"), &[&id])
            .await?;
        Ok(!rows.is_empty())
    }
}

fn worker_row(row: &Row) -> Result<WorkerRow, Error> {
    let queues: Json<Vec<(String, u32)>> = row.try_get("queues").map_err(error::decode)?;
    let capacity: i32 = row.try_get("capacity").map_err(error::decode)?;
    let in_flight: i32 = row.try_get("in_flight").map_err(error::decode)?;
    let started_at: DateTime<Utc> = row.try_get("started_at").map_err(error::decode)?;
    Ok(WorkerRow {
        report: WorkerHeartbeatParams {
            id: row.try_get("id").map_err(error::decode)?,
            host: row.try_get("host").map_err(error::decode)?,
            pid: row.try_get("pid").map_err(error::decode)?,
            kinds: row.try_get("kinds").map_err(error::decode)?,
            queues: queues.0,
            capacity: u32::try_from(capacity).unwrap_or(0),
            in_flight: u32::try_from(in_flight).unwrap_or(0),
            origin: row.try_get("origin").map_err(error::decode)?,
            now: None,
        },
        started_at,
        heartbeat_at: row.try_get("heartbeat_at").map_err(error::decode)?,
    })
}
