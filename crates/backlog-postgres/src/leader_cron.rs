//! Leader election and periodic job schedules: the `leader_*` and `cron_*` storage methods.

use backlog_storage::{
    CronDefinition, CronRow, CronTickParams, CronUpsertParams, Error, Leader, LeaderElectParams,
    LeaderResignParams,
};
use backlog_types::JobId;
use tokio_postgres::Row;

use crate::insert::{self, InsertArrays};
use crate::storage::micros;
use crate::{error, PgStorage};

/// Notification payload announcing a resignation; `!` never starts a queue name.
pub(crate) const LEADER_RESIGNED_PREFIX: &str = "!leader_resigned:";
/// Notification payload announcing a schedule change.
pub(crate) const CRON_CHANGED: &str = "!cron_changed";

impl PgStorage {
    pub(crate) async fn leader_elect_impl(
        &self,
        sql: &str,
        params: LeaderElectParams,
    ) -> Result<bool, Error> {
        let rows = self
            .query(
                sql,
                &[
                    &params.name,
                    &params.leader_id,
                    &micros(params.ttl),
                    &params.now,
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    pub(crate) async fn leader_resign_impl(
        &self,
        params: LeaderResignParams,
    ) -> Result<bool, Error> {
        let rows = self
            .query(
                include_str!("../sql/leader_resign.sql"),
                &[&params.name, &params.leader_id, &self.notify_channel()],
            )
            .await?;
        count(&rows, "resigned").map(|n| n > 0)
    }

    pub(crate) async fn leader_get_impl(&self, name: &str) -> Result<Option<Leader>, Error> {
        let rows = self
            .query(include_str!("../sql/leader_get.sql"), &[&name])
            .await?;
        rows.first()
            .map(|row| {
                Ok(Leader {
                    name: row.try_get("name").map_err(error::decode)?,
                    leader_id: row.try_get("leader_id").map_err(error::decode)?,
                    elected_at: row.try_get("elected_at").map_err(error::decode)?,
                    expires_at: row.try_get("expires_at").map_err(error::decode)?,
                })
            })
            .transpose()
    }

    pub(crate) async fn cron_upsert_impl(
        &self,
        params: CronUpsertParams,
    ) -> Result<CronRow, Error> {
        let d = &params.definition;
        let rows = self
            .query(
                include_str!("../sql/cron_upsert.sql"),
                &[
                    &d.name,
                    &d.kind,
                    &d.args,
                    &d.queue,
                    &d.priority,
                    &d.max_attempts,
                    &d.tags,
                    &d.spec,
                    &d.timezone,
                    &d.missed_policy.as_str(),
                    &d.enabled,
                    &params.next_run_at,
                    &params.now,
                    &self.notify_channel(),
                ],
            )
            .await?;
        let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
        cron_row(row)
    }

    pub(crate) async fn cron_delete_impl(&self, name: &str) -> Result<bool, Error> {
        let rows = self
            .query(
                include_str!("../sql/cron_delete.sql"),
                &[&name, &self.notify_channel()],
            )
            .await?;
        count(&rows, "deleted").map(|n| n > 0)
    }

    pub(crate) async fn cron_list_impl(&self) -> Result<Vec<CronRow>, Error> {
        let rows = self
            .query(include_str!("../sql/cron_list.sql"), &[])
            .await?;
        rows.iter().map(cron_row).collect()
    }

    /// The compare-and-set and the insert run in one transaction on one pooled connection.
    pub(crate) async fn cron_tick_impl(
        &self,
        params: CronTickParams,
    ) -> Result<Option<Vec<JobId>>, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(error::pg)?;
        let tick = tx
            .prepare_cached(include_str!("../sql/cron_tick.sql"))
            .await
            .map_err(error::pg)?;
        let taken = tx
            .query(
                &tick,
                &[
                    &params.name,
                    &params.expected,
                    &params.next_run_at,
                    &params.last_run_at,
                ],
            )
            .await
            .map_err(error::pg)?;
        if taken.is_empty() {
            return Ok(None); // dropping the transaction rolls it back
        }
        let mut ids = Vec::new();
        if !params.jobs.is_empty() {
            // Ticks are rare: notify from the statement itself, delivered on commit.
            let arrays = InsertArrays::new(params.jobs, self.notify_channel(), true);
            let insert = tx.prepare_cached(insert::SQL).await.map_err(error::pg)?;
            let rows = tx
                .query(&insert, &arrays.params())
                .await
                .map_err(error::pg)?;
            for row in &rows {
                ids.push(row.try_get("id").map_err(error::decode)?);
            }
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(Some(ids))
    }
}

fn count(rows: &[Row], column: &str) -> Result<i64, Error> {
    let row = rows.first().ok_or_else(|| error::decode(NoRow))?;
    row.try_get(column).map_err(error::decode)
}

fn cron_row(row: &Row) -> Result<CronRow, Error> {
    let policy: String = row.try_get("missed_policy").map_err(error::decode)?;
    Ok(CronRow {
        definition: CronDefinition {
            name: row.try_get("name").map_err(error::decode)?,
            kind: row.try_get("kind").map_err(error::decode)?,
            args: row.try_get("args").map_err(error::decode)?,
            queue: row.try_get("queue").map_err(error::decode)?,
            priority: row.try_get("priority").map_err(error::decode)?,
            max_attempts: row.try_get("max_attempts").map_err(error::decode)?,
            tags: row.try_get("tags").map_err(error::decode)?,
            spec: row.try_get("spec").map_err(error::decode)?,
            timezone: row.try_get("timezone").map_err(error::decode)?,
            missed_policy: policy.parse().map_err(error::decode)?,
            enabled: row.try_get("enabled").map_err(error::decode)?,
        },
        next_run_at: row.try_get("next_run_at").map_err(error::decode)?,
        last_run_at: row.try_get("last_run_at").map_err(error::decode)?,
        created_at: row.try_get("created_at").map_err(error::decode)?,
        updated_at: row.try_get("updated_at").map_err(error::decode)?,
    })
}

/// A statement that always returns one row returned none.
#[derive(Debug)]
struct NoRow;

impl std::fmt::Display for NoRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the statement returned no row")
    }
}

impl std::error::Error for NoRow {}
