//! Periodic job schedules: `cron_upsert`, `cron_list`, `cron_delete` and the compare-and-set of
//! `cron_tick`.

use std::time::Duration;

use backlog_storage::{
    CronDefinition, CronTickParams, CronUpsertParams, Event, JobInsert, JobListParams, MissedPolicy,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use crate::support::Db;

fn definition(name: &str, spec: &str) -> CronDefinition {
    CronDefinition {
        name: name.into(),
        kind: "report".into(),
        args: json!({"n": 1}),
        queue: "reports".into(),
        priority: 2,
        max_attempts: 3,
        tags: vec!["cron".into()],
        spec: spec.into(),
        timezone: "Europe/Paris".into(),
        missed_policy: MissedPolicy::CatchUp,
        enabled: true,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid time")
        .with_timezone(&Utc)
}

fn tick(name: &str, expected: DateTime<Utc>, next: DateTime<Utc>) -> CronTickParams {
    let mut job = JobInsert::new("reports", "report", json!({}));
    job.scheduled_at = Some(expected);
    CronTickParams {
        name: name.into(),
        expected,
        next_run_at: next,
        last_run_at: expected,
        jobs: vec![job],
    }
}

async fn job_count(db: &Db) -> usize {
    db.job_list(JobListParams {
        limit: 1000,
        ..JobListParams::default()
    })
    .await
    .unwrap()
    .len()
}

/// Schedules are created, listed, replaced (keeping the pending tick unless the timing
/// changed) and deleted.
pub async fn upsert_list_delete(db: Db) {
    let t0 = Utc::now().trunc_subsecs(6);
    let first = at("2030-01-01T00:00:00Z");
    let row = db
        .cron_upsert(CronUpsertParams {
            definition: definition("nightly", "0 0 2 * * *"),
            next_run_at: first,
            now: Some(t0),
        })
        .await
        .unwrap();
    assert_eq!(row.definition, definition("nightly", "0 0 2 * * *"));
    assert_eq!(row.next_run_at, first);
    assert_eq!(row.last_run_at, None);
    assert_eq!((row.created_at, row.updated_at), (t0, t0));

    // Same timing, new args: the pending tick is kept.
    let mut changed = definition("nightly", "0 0 2 * * *");
    changed.args = json!({"n": 2});
    changed.missed_policy = MissedPolicy::Skip;
    let t1 = t0 + chrono::Duration::seconds(1);
    let row = db
        .cron_upsert(CronUpsertParams {
            definition: changed.clone(),
            next_run_at: at("2031-01-01T00:00:00Z"),
            now: Some(t1),
        })
        .await
        .unwrap();
    assert_eq!(row.definition, changed);
    assert_eq!(row.next_run_at, first);
    assert_eq!((row.created_at, row.updated_at), (t0, t1));

    // New timing: the caller's next tick replaces it.
    let second = at("2031-01-01T00:00:00Z");
    let row = db
        .cron_upsert(CronUpsertParams {
            definition: definition("nightly", "@every 1h"),
            next_run_at: second,
            now: Some(t1),
        })
        .await
        .unwrap();
    assert_eq!(row.next_run_at, second);

    db.cron_upsert(CronUpsertParams {
        definition: definition("a-first", "0 * * * * *"),
        next_run_at: first,
        now: None,
    })
    .await
    .unwrap();
    let names: Vec<String> = db
        .cron_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.definition.name)
        .collect();
    assert_eq!(names, ["a-first", "nightly"]);
    assert!(db.cron_delete("nightly").await.unwrap());
    assert!(!db.cron_delete("nightly").await.unwrap());
    assert_eq!(db.cron_list().await.unwrap().len(), 1);
}

/// A tick moves next_run_at and inserts its jobs in one step; a stale tick changes nothing.
pub async fn tick_is_compare_and_set(db: Db) {
    let t1 = at("2030-01-01T00:00:00Z");
    let t2 = at("2030-01-01T00:01:00Z");
    let t3 = at("2030-01-01T00:02:00Z");
    db.cron_upsert(CronUpsertParams {
        definition: definition("minutely", "0 * * * * *"),
        next_run_at: t1,
        now: None,
    })
    .await
    .unwrap();
    let ids = db.cron_tick(tick("minutely", t1, t2)).await.unwrap();
    assert_eq!(ids.as_ref().map(Vec::len), Some(1));
    let job = db.job_get(ids.unwrap()[0]).await.unwrap().expect("job");
    assert_eq!(job.kind, "report");
    assert_eq!(job.scheduled_at, t1);
    // The same tick again (a second leader, a retry): nothing.
    assert_eq!(db.cron_tick(tick("minutely", t1, t2)).await.unwrap(), None);
    assert_eq!(job_count(&db).await, 1);
    let row = db.cron_list().await.unwrap().remove(0);
    assert_eq!((row.next_run_at, row.last_run_at), (t2, Some(t1)));

    // A tick that inserts nothing (skipped) still advances.
    let mut skip = tick("minutely", t2, t3);
    skip.jobs.clear();
    assert_eq!(db.cron_tick(skip).await.unwrap(), Some(Vec::new()));
    assert_eq!(job_count(&db).await, 1);
    // Unknown and disabled schedules take no tick.
    assert_eq!(db.cron_tick(tick("missing", t3, t3)).await.unwrap(), None);
    let mut disabled = definition("minutely", "0 * * * * *");
    disabled.enabled = false;
    db.cron_upsert(CronUpsertParams {
        definition: disabled,
        next_run_at: t3,
        now: None,
    })
    .await
    .unwrap();
    assert_eq!(db.cron_tick(tick("minutely", t3, t3)).await.unwrap(), None);
    assert_eq!(job_count(&db).await, 1);
}

/// Many concurrent ticks for the same expected time insert exactly one job.
pub async fn concurrent_ticks_insert_one_job(db: Db) {
    let t1 = at("2030-01-01T00:00:00Z");
    let t2 = at("2030-01-01T00:01:00Z");
    db.cron_upsert(CronUpsertParams {
        definition: definition("race", "0 * * * * *"),
        next_run_at: t1,
        now: None,
    })
    .await
    .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.cron_tick(tick("race", t1, t2)).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task").expect("tick").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(job_count(&db).await, 1);
}

/// Upserting and deleting schedules wakes subscribers with `CronChanged`.
pub async fn changes_wake_subscribers(db: Db) {
    let mut rx = db.event_subscribe().await.unwrap();
    db.cron_upsert(CronUpsertParams {
        definition: definition("woken", "0 * * * * *"),
        next_run_at: Utc::now(),
        now: None,
    })
    .await
    .unwrap();
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Event::CronChanged) => return,
                Ok(_) => continue,
                Err(e) => panic!("subscription failed: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("a change signal within 10 s");
}
