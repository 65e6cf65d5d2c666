//! Backlog's own schema migrations, tracked in `backlog_migration` in the configured schema.
//!
//! Every step runs in a transaction holding a per-schema advisory lock, so two processes
//! migrating at once take turns and the second finds the work done.

use backlog_storage::{Error, Migration, MigrationDirection, MigrationRunParams, MigrationStatus};
use chrono::{DateTime, Utc};

use crate::{error, PgStorage};

/// The PostgreSQL migrations, in order. Version numbers match the SQLite backend's.
pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        up: include_str!("../migrations/001_init.up.sql"),
        down: include_str!("../migrations/001_init.down.sql"),
    },
    Migration {
        version: 2,
        name: "cancel_unique",
        up: include_str!("../migrations/002_cancel_unique.up.sql"),
        down: include_str!("../migrations/002_cancel_unique.down.sql"),
    },
    Migration {
        version: 3,
        name: "leader_cron",
        up: include_str!("../migrations/003_leader_cron.up.sql"),
        down: include_str!("../migrations/003_leader_cron.down.sql"),
    },
    Migration {
        version: 4,
        name: "queues_results",
        up: include_str!("../migrations/004_queues_results.up.sql"),
        down: include_str!("../migrations/004_queues_results.down.sql"),
    },
    Migration {
        version: 5,
        name: "retention",
        up: include_str!("../migrations/005_retention.up.sql"),
        down: include_str!("../migrations/005_retention.down.sql"),
    },
    Migration {
        version: 6,
        name: "fencing",
        up: include_str!("../migrations/006_fencing.up.sql"),
        down: include_str!("../migrations/006_fencing.down.sql"),
    },
    Migration {
        version: 7,
        name: "web",
        up: include_str!("../migrations/007_web.up.sql"),
        down: include_str!("../migrations/007_web.down.sql"),
    },
    Migration {
        version: 8,
        name: "idempotency",
        up: include_str!("../migrations/008_idempotency.up.sql"),
        down: include_str!("../migrations/008_idempotency.down.sql"),
    },
    Migration {
        version: 11,
        name: "workflows",
        up: include_str!("../migrations/011_workflows.up.sql"),
        down: include_str!("../migrations/011_workflows.down.sql"),
    },
    Migration {
        version: 12,
        name: "job_options",
        up: include_str!("../migrations/012_job_options.up.sql"),
        down: include_str!("../migrations/012_job_options.down.sql"),
    },
    Migration {
        version: 13,
        name: "fair_queues",
        up: include_str!("../migrations/013_fair_queues.up.sql"),
        down: include_str!("../migrations/013_fair_queues.down.sql"),
    },
    Migration {
        version: 14,
        name: "group_keys",
        up: include_str!("../migrations/014_group_keys.up.sql"),
        down: include_str!("../migrations/014_group_keys.down.sql"),
    },
    Migration {
        version: 15,
        name: "partition_counted",
        up: include_str!("../migrations/015_partition_counted.up.sql"),
        down: include_str!("../migrations/015_partition_counted.down.sql"),
    },
    Migration {
        version: 17,
        name: "fetch_index_hash",
        up: include_str!("../migrations/017_fetch_index_hash.up.sql"),
        down: include_str!("../migrations/017_fetch_index_hash.down.sql"),
    },
];

const LOCK: &str = include_str!("../sql/migration_lock.sql");
const TABLE_CREATE: &str = include_str!("../sql/migration_table_create.sql");
const TABLE_EXISTS: &str = include_str!("../sql/migration_table_exists.sql");
const LIST: &str = include_str!("../sql/migration_list.sql");
const INSERT: &str = include_str!("../sql/migration_insert.sql");
const DELETE: &str = include_str!("../sql/migration_delete.sql");

impl PgStorage {
    pub(crate) async fn migration_list_impl(&self) -> Result<Vec<MigrationStatus>, Error> {
        let client = self.client().await?;
        let applied = applied(&**client).await?;
        Ok(MIGRATIONS
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                name: m.name.to_owned(),
                applied_at: applied
                    .iter()
                    .find(|(version, _)| *version == m.version)
                    .map(|(_, at)| *at),
            })
            .collect())
    }

    pub(crate) async fn migration_run_impl(
        &self,
        params: MigrationRunParams,
    ) -> Result<Vec<u32>, Error> {
        let mut client = self.client().await?;
        // The schema name is validated by `PgStorage::connect`; DDL cannot take parameters.
        let create_schema = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", self.schema());
        {
            let tx = client.transaction().await.map_err(error::pg)?;
            let lock = tx.prepare_cached(LOCK).await.map_err(error::pg)?;
            tx.execute(&lock, &[&self.schema()])
                .await
                .map_err(error::pg)?;
            tx.batch_execute(&create_schema).await.map_err(error::pg)?;
            tx.batch_execute(TABLE_CREATE).await.map_err(error::pg)?;
            tx.commit().await.map_err(error::pg)?;
        }

        let applied_now: Vec<u32> = applied(&**client)
            .await?
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        let steps: Vec<&Migration> = match params.direction {
            MigrationDirection::Up => MIGRATIONS
                .iter()
                .filter(|m| params.target.is_none_or(|t| m.version <= t))
                .collect(),
            MigrationDirection::Down => {
                // Default: one step back, to the second-highest applied version.
                let mut versions = applied_now.clone();
                versions.sort_unstable();
                let target = params
                    .target
                    .unwrap_or_else(|| versions.iter().rev().nth(1).copied().unwrap_or(0));
                MIGRATIONS
                    .iter()
                    .rev()
                    .filter(|m| m.version > target)
                    .collect()
            }
        };

        let mut changed = Vec::new();
        for migration in steps {
            let tx = client.transaction().await.map_err(error::pg)?;
            let lock = tx.prepare_cached(LOCK).await.map_err(error::pg)?;
            tx.execute(&lock, &[&self.schema()])
                .await
                .map_err(error::pg)?;
            // Re-read under the lock: another process may have done this step meanwhile.
            let is_applied = applied(&*tx)
                .await?
                .iter()
                .any(|(v, _)| *v == migration.version);
            let version = i32::try_from(migration.version).map_err(error::decode)?;
            match params.direction {
                MigrationDirection::Up if !is_applied => {
                    tx.batch_execute(migration.up).await.map_err(error::pg)?;
                    tx.execute(INSERT, &[&version, &migration.name])
                        .await
                        .map_err(error::pg)?;
                }
                MigrationDirection::Down if is_applied => {
                    tx.batch_execute(migration.down).await.map_err(error::pg)?;
                    tx.execute(DELETE, &[&version]).await.map_err(error::pg)?;
                }
                _ => {
                    tx.rollback().await.map_err(error::pg)?;
                    continue;
                }
            }
            tx.commit().await.map_err(error::pg)?;
            changed.push(migration.version);
        }
        if !changed.is_empty() {
            // Cached statements may refer to dropped types (a new enum OID changes result types).
            self.pool().manager().statement_caches.clear();
        }
        Ok(changed)
    }
}

/// The applied versions and when they were applied; empty when the table does not exist yet.
async fn applied(
    client: &impl tokio_postgres::GenericClient,
) -> Result<Vec<(u32, DateTime<Utc>)>, Error> {
    let present: bool = client
        .query_one(TABLE_EXISTS, &[])
        .await
        .map_err(error::pg)?
        .try_get("present")
        .map_err(error::decode)?;
    if !present {
        return Ok(Vec::new());
    }
    let rows = client.query(LIST, &[]).await.map_err(error::pg)?;
    rows.iter()
        .map(|row| {
            let version: i32 = row.try_get("version").map_err(error::decode)?;
            let at: DateTime<Utc> = row.try_get("applied_at").map_err(error::decode)?;
            Ok((u32::try_from(version).map_err(error::decode)?, at))
        })
        .collect()
}
