//! `backlog migrate`.

use anyhow::Context;
use backlog::storage::{MigrationDirection, MigrationRunParams};
use clap::{Args, Subcommand};

use crate::cli::DatabaseArgs;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Apply pending migrations (the default).
    Up {
        /// Stop after this version.
        #[arg(long)]
        target: Option<u32>,
    },
    /// Revert migrations: one step, or down to (not including) --target; 0 reverts all.
    Down {
        #[arg(long)]
        target: Option<u32>,
    },
    /// List migrations and whether each is applied.
    List,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let db = args.db.open().await?;
    let (direction, target) = match args.action.unwrap_or(Action::Up { target: None }) {
        Action::List => {
            let list = db
                .storage
                .migration_list()
                .await
                .context("could not list migrations")?;
            println!("{:>7}  {:<24} applied", "version", "name");
            for m in list {
                let applied = m
                    .applied_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "pending".into());
                println!("{:>7}  {:<24} {applied}", m.version, m.name);
            }
            return Ok(());
        }
        Action::Up { target } => (MigrationDirection::Up, target),
        Action::Down { target } => (MigrationDirection::Down, target),
    };
    let changed = db
        .storage
        .migration_run(MigrationRunParams { direction, target })
        .await
        .context("migration failed")?;
    let verb = if direction == MigrationDirection::Up {
        "applied"
    } else {
        "reverted"
    };
    if changed.is_empty() {
        println!("{}: nothing to do", db.describe);
    } else {
        let list: Vec<_> = changed.iter().map(u32::to_string).collect();
        println!("{}: {verb} migration(s) {}", db.describe, list.join(", "));
    }
    Ok(())
}
