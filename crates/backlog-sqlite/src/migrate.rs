//! Backlog's migrations for SQLite and the migrator that applies them.
//!
//! Applied versions are tracked in Backlog's own `backlog_migration` table, created by the
//! migrator (not by a migration). A run goes through the writer thread: every migration it applies
//! or reverts, with its `backlog_migration` row, commits in one transaction.

use std::collections::BTreeMap;

use backlog_storage::{Error, Migration, MigrationDirection, MigrationRunParams, MigrationStatus};
use rusqlite::{named_params, Connection};

use crate::error::from_sqlite;
use crate::{sql, time};

/// The SQLite migrations, numbered like the PostgreSQL backend's.
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
    // 15 is PostgreSQL's only (`partition_counted`).
    Migration {
        version: 16,
        name: "events",
        up: include_str!("../migrations/016_events.up.sql"),
        down: include_str!("../migrations/016_events.down.sql"),
    },
];

/// Every known migration with the time it was applied, if it was.
pub(crate) fn list(conn: &Connection) -> Result<Vec<MigrationStatus>, Error> {
    let applied = applied(conn)?;
    Ok(MIGRATIONS
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            name: m.name.to_owned(),
            applied_at: applied.get(&m.version).copied(),
        })
        .collect())
}

/// Applies or reverts migrations as `params` says, returning the versions changed in order.
pub(crate) fn run(conn: &Connection, params: &MigrationRunParams) -> Result<Vec<u32>, Error> {
    conn.execute_batch(sql::MIGRATION_TABLE_CREATE)
        .map_err(from_sqlite)?;
    let applied = applied(conn)?;
    let mut changed = Vec::new();
    match params.direction {
        MigrationDirection::Up => {
            let target = params.target.unwrap_or(u32::MAX);
            for m in MIGRATIONS {
                if m.version <= target && !applied.contains_key(&m.version) {
                    conn.execute_batch(m.up).map_err(from_sqlite)?;
                    conn.prepare_cached(sql::MIGRATION_INSERT)
                        .and_then(|mut s| {
                            s.execute(named_params! {
                                ":version": m.version,
                                ":name": m.name,
                                ":applied_at": time::encode(time::now()),
                            })
                        })
                        .map_err(from_sqlite)?;
                    changed.push(m.version);
                }
            }
        }
        MigrationDirection::Down => {
            // Default: one step back, i.e. keep everything below the latest applied version.
            let target = match params.target {
                Some(target) => target,
                None => applied
                    .keys()
                    .next_back()
                    .map_or(0, |v| v.saturating_sub(1)),
            };
            for m in MIGRATIONS.iter().rev() {
                if m.version > target && applied.contains_key(&m.version) {
                    conn.execute_batch(m.down).map_err(from_sqlite)?;
                    conn.prepare_cached(sql::MIGRATION_DELETE)
                        .and_then(|mut s| s.execute(named_params! { ":version": m.version }))
                        .map_err(from_sqlite)?;
                    changed.push(m.version);
                }
            }
        }
    }
    Ok(changed)
}

/// Applied versions and when; empty if the tracking table does not exist yet.
fn applied(conn: &Connection) -> Result<BTreeMap<u32, chrono::DateTime<chrono::Utc>>, Error> {
    let exists: i64 = conn
        .prepare_cached(sql::MIGRATION_TABLE_EXISTS)
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)?;
    let mut applied = BTreeMap::new();
    if exists == 0 {
        return Ok(applied);
    }
    let mut statement = conn
        .prepare_cached(sql::MIGRATION_LIST)
        .map_err(from_sqlite)?;
    let mut rows = statement.query([]).map_err(from_sqlite)?;
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        let version: u32 = row.get(0).map_err(from_sqlite)?;
        let applied_at: String = row.get(2).map_err(from_sqlite)?;
        applied.insert(version, time::decode("applied_at", &applied_at)?);
    }
    Ok(applied)
}
