//! The check `demo` and `bench` make before emptying their database: it must hold nothing they
//! did not create (jobs of other kinds or queues, queue settings, cron schedules), unless the user
//! passed `--force`.

use anyhow::{bail, Context};
use backlog::storage::JobSearchParams;
use backlog::Storage;

/// What one command creates: its jobs' queues and kinds. It never configures queues or
/// registers cron schedules, so any of those belongs to someone else.
pub(crate) struct Owned<'a> {
    /// The command, for the message (`demo`, `bench`).
    pub(crate) command: &'static str,
    /// The queues its jobs go to.
    pub(crate) queues: &'a [&'a str],
    /// The kinds of its jobs.
    pub(crate) kinds: &'a [&'a str],
}

/// Fails with a one-line message naming what would be destroyed when the database holds data
/// `owned` did not create; `force` skips the check.
pub(crate) async fn ensure(
    storage: &dyn Storage,
    owned: &Owned<'_>,
    describe: &str,
    force: bool,
) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let foreign = foreign_data(storage, owned)
        .await
        .with_context(|| format!("could not check what {describe} holds"))?;
    if let Some(what) = foreign {
        bail!(
            "refusing to run `backlog {}`: {describe} holds {what} that it did not create, and it \
             empties its database first; point it at its own schema (--schema) or file, or pass \
             --force to delete everything there",
            owned.command
        );
    }
    Ok(())
}

/// A description of the first kind of foreign data found, if any.
async fn foreign_data(storage: &dyn Storage, owned: &Owned<'_>) -> anyhow::Result<Option<String>> {
    let crons = storage.cron_list().await?;
    if let Some(cron) = crons.first() {
        return Ok(Some(format!(
            "{} cron schedule(s) (e.g. `{}`)",
            crons.len(),
            cron.definition.name
        )));
    }
    let queues = storage.queue_list().await?;
    if let Some(q) = queues.iter().find(|q| q.updated_at.is_some()) {
        return Ok(Some(format!("settings of queue `{}`", q.name)));
    }
    if let Some(q) = queues
        .iter()
        .find(|q| !owned.queues.contains(&q.name.as_str()))
    {
        return Ok(Some(format!("jobs in queue `{}`", q.name)));
    }
    let total: u64 = queues.iter().flat_map(|q| q.counts.values()).sum();
    if total == 0 {
        return Ok(None);
    }
    // Every job is in one of our queues; are they all of our kinds?
    let ours = storage
        .job_search(JobSearchParams {
            queues: owned.queues.iter().map(|q| q.to_string()).collect(),
            kinds: owned.kinds.iter().map(|k| k.to_string()).collect(),
            limit: u32::try_from(total.saturating_add(1)).unwrap_or(u32::MAX),
            ..JobSearchParams::default()
        })
        .await?;
    if (ours.len() as u64) < total {
        return Ok(Some(format!(
            "{} job(s) of other kinds",
            total - ours.len() as u64
        )));
    }
    Ok(None)
}
