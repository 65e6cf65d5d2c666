//! Running the hot statements with generic plans on connections that otherwise plan every
//! execution afresh.
//!
//! Pooled connections use `plan_cache_mode = force_custom_plan` (see the crate docs), so each
//! execution of a prepared statement is planned again with its parameters. That protects the
//! cold statements (maintenance, dashboard, filters), whose best plan depends on the values.
//! For the statements on every job's path it is mostly cost: planning the idempotent insert of
//! one job took 1.16 ms for 0.52 ms of execution here, against 0.08 ms with the connection's
//! cached generic plan. These run generically: the claims (`job_fetch_available` and the fair
//! claim), the pooled `job_insert_many` (both variants, also inside `job_insert_and_fetch`),
//! `job_finish_many` and `job_heartbeat_many`. Their plans
//! have nothing to choose: every one was shaped for issue #9 to be driven by the right index
//! whatever the statistics say, and `tests/plans.rs` checks the generic plan beside the custom
//! one on a table never analyzed, one analyzed while empty and one analyzed while busy. The
//! one-row `job_insert_one` stays custom: a `VALUES` insert plans in microseconds, less than the
//! switches below cost. Measured through the ZeroMQ server on PostgreSQL at 1,000 jobs/s
//! (docs/benchmarks.md): enqueue→start p50 4.4–5.2 ms → 3.2–3.7 ms, on a loaded machine.
//!
//! A generic plan is made at the statement's first execution on the connection and serves every
//! later one; only DDL or new statistics replace it, never the table growing. The switch also
//! turns `enable_seqscan` off while the plan is made: made on an empty table, it used to pick a
//! sequential scan of `backlog_job` for the claim's `UPDATE`, the outcome write's lock and the
//! heartbeat, and then scanned the whole table on every call as the queue filled (at 1,000 jobs/s
//! through the ZeroMQ server, enqueue→start p50 3.1 → 2.1 ms once fixed; the scans would have
//! grown with the table). `tests/plans.rs` pins that case too.
//!
//! [`query`] sends three messages pipelined (one network round trip): switch the connection to
//! `force_generic_plan` with sequential scans off, run the statement, switch both back. Each message is its own implicit
//! transaction (or part of the caller's transaction), so the switch back runs even when the
//! statement fails; inside a transaction that rolls back, PostgreSQL undoes both switches.
//! A future dropped before its first poll sends nothing; after it, all three are on their way.
//! `tests/plan_cache.rs` checks that connections go back to the pool planning custom.

use backlog_storage::Error;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{error, PgStorage};

impl PgStorage {
    /// Like [`PgStorage::query`], with a generic plan: for the statements named in the module
    /// docs only.
    pub(crate) async fn query_generic(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let client = self.client().await?;
        query(&client, sql, params).await
    }
}

pub(crate) const ENTER: &str = include_str!("../sql/plan_generic_enter.sql");
pub(crate) const LEAVE: &str = include_str!("../sql/plan_generic_leave.sql");

/// Runs `sql` (prepared once per connection) with the connection's cached generic plan.
pub(crate) async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Error> {
    let enter = client.prepare_cached(ENTER);
    let statement = client.prepare_cached(sql);
    let leave = client.prepare_cached(LEAVE);
    let (enter, statement, leave) = tokio::try_join!(enter, statement, leave).map_err(error::pg)?;
    let (entered, rows, left) = tokio::join!(
        client.query(&enter, &[]),
        client.query(&statement, params),
        client.query(&leave, &[]),
    );
    let rows = rows.map_err(error::pg)?;
    entered.map_err(error::pg)?;
    left.map_err(error::pg)?;
    Ok(rows)
}
