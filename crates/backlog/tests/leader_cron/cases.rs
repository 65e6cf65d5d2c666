//! The leader and cron behaviours, each written once and run on both backends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::cron::{CronSchedule, MissedPolicy, Schedule};
use backlog::maintenance::{CronEnqueuer, MAINTENANCE_LEASE};
use backlog::storage::JobListParams;
use backlog::{Client, Job, JobArgs, JobError, JobRow, Runner, Storage, Worker, Workers};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub type Db = Arc<dyn Storage>;

#[derive(Serialize, Deserialize)]
struct Noop;

impl JobArgs for Noop {
    const KIND: &'static str = "noop";
}

struct NoopWorker;

impl Worker for NoopWorker {
    type Args = Noop;
    async fn work(&self, _job: Job<Noop>) -> Result<(), JobError> {
        Ok(())
    }
}

/// A runner with a long lease TTL (30 s), so that prompt hand-overs can only come from the
/// resignation signal.
fn runner(db: &Db, id: &str, maintenance: bool) -> Runner {
    Runner::builder(db.clone(), Workers::new().register(NoopWorker))
        .queue("default", 1)
        .configure(|c| {
            c.worker_id = id.to_owned();
            c.maintenance = maintenance;
            c.maintenance_config.leader_ttl = Duration::from_secs(30);
        })
        .start()
        .expect("runner starts")
}

/// Waits until schedule `name` has produced at least `n` jobs: re-counts on every wake-up the
/// database sends (each tick's insert sends one), failing after 10 s.
async fn wait_for_ticks(db: &Db, name: &str, n: usize, what: &str) {
    let mut events = db.event_subscribe().await.unwrap();
    let wait = async {
        while cron_jobs(db, name).await.len() < n {
            let _ = events.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within 10 s"));
}

async fn wait_for_one_leader(runners: &[Runner]) -> usize {
    // Woken by the runners' leadership signals, not by polling.
    let mut signals: Vec<_> = runners.iter().map(Runner::leadership).collect();
    let wait = async {
        loop {
            let found: Vec<usize> = (0..signals.len())
                .filter(|&i| *signals[i].borrow_and_update())
                .collect();
            assert!(found.len() <= 1, "two leaders at once: {found:?}");
            if let [one] = found[..] {
                return one;
            }
            let changes = signals.iter_mut().map(|s| Box::pin(s.changed()));
            let _ = futures_util::future::select_all(changes).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("no leader within 10 s")
}

pub async fn exactly_one_leader_and_prompt_hand_over(db: Db) {
    let mut runners = vec![runner(&db, "runner-a", true), runner(&db, "runner-b", true)];
    let leader = wait_for_one_leader(&runners).await;
    let lease = db
        .leader_get(MAINTENANCE_LEASE)
        .await
        .unwrap()
        .expect("lease");
    assert_eq!(lease.leader_id, runners[leader].worker_id());

    let follower_id = runners[1 - leader].worker_id().to_owned();
    let mut follower = runners[1 - leader].leadership();
    let started = Instant::now();
    runners
        .remove(leader)
        .shutdown(Duration::from_secs(5))
        .await;
    tokio::time::timeout(Duration::from_secs(5), follower.wait_for(|leads| *leads))
        .await
        .expect("the follower takes over well before the 30 s lease expires")
        .expect("leadership channel open");
    assert!(started.elapsed() < Duration::from_secs(5));
    let lease = db
        .leader_get(MAINTENANCE_LEASE)
        .await
        .unwrap()
        .expect("lease");
    assert_eq!(lease.leader_id, follower_id);
    runners.remove(0).shutdown(Duration::from_secs(5)).await;
    assert!(db.leader_get(MAINTENANCE_LEASE).await.unwrap().is_none());
}

pub async fn no_maintenance_means_never_leader(db: Db) {
    let passive = runner(&db, "passive", false);
    let active = runner(&db, "active", true);
    let mut leads = active.leadership();
    tokio::time::timeout(Duration::from_secs(10), leads.wait_for(|l| *l))
        .await
        .expect("elected")
        .expect("open");
    assert!(!passive.is_leader());
    passive.shutdown(Duration::from_secs(5)).await;
    active.shutdown(Duration::from_secs(5)).await;
}

async fn cron_jobs(db: &Db, name: &str) -> Vec<JobRow> {
    let mut jobs: Vec<JobRow> = db
        .job_list(JobListParams {
            limit: 10_000,
            ..JobListParams::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.metadata.get("cron").and_then(|c| c.as_str()) == Some(name))
        .collect();
    jobs.sort_by_key(|j| j.scheduled_at);
    jobs
}

fn tick_of(job: &JobRow) -> DateTime<Utc> {
    serde_json::from_value(job.metadata["cron_tick"].clone()).expect("tick time")
}

pub async fn cron_one_job_per_tick_across_runners_and_leader_change(db: Db) {
    let client = Client::from_arc(db.clone());
    // Jobs go to a queue nobody works, so they stay to be counted.
    let schedule = CronSchedule::new("pulse", "noop", json!(null), "@every 1s".parse().unwrap())
        .queue("ticks")
        .missed(MissedPolicy::CatchUp);
    client.cron_upsert(schedule).await.unwrap();
    let mut runners: Vec<Runner> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| runner(&db, id, true))
        .collect();
    let leader = wait_for_one_leader(&runners).await;
    wait_for_ticks(&db, "pulse", 2, "two ticks").await;
    runners
        .remove(leader)
        .shutdown(Duration::from_secs(5))
        .await;
    let before = cron_jobs(&db, "pulse").await.len();
    wait_for_one_leader(&runners).await;
    wait_for_ticks(&db, "pulse", before + 3, "three more ticks").await;
    for runner in runners {
        runner.shutdown(Duration::from_secs(5)).await;
    }
    let jobs = cron_jobs(&db, "pulse").await;
    let ticks: Vec<DateTime<Utc>> = jobs.iter().map(tick_of).collect();
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::seconds(1),
            "ticks must be consecutive, without gap or repeat: {ticks:?}"
        );
    }
    for job in &jobs {
        assert_eq!(job.scheduled_at, tick_of(job));
        assert_eq!(job.queue, "ticks");
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn enqueuer_follows_the_clock_it_is_given(db: Db) {
    let client = Client::from_arc(db.clone());
    let t0 = at("2030-06-01T12:00:30Z");
    let schedule = CronSchedule::new(
        "minutely",
        "noop",
        json!({}),
        "0 * * * * *".parse().unwrap(),
    )
    .timezone("Europe/Paris")
    .unwrap();
    let row = client.cron_upsert_at(schedule, t0).await.unwrap();
    assert_eq!(row.next_run_at, at("2030-06-01T12:01:00Z"));
    assert_eq!(row.definition.timezone, "Europe/Paris");
    let enqueuer = CronEnqueuer::new(db.clone(), Duration::from_secs(60));

    let pass = enqueuer.enqueue_due(t0).await.unwrap();
    assert!(pass.enqueued.is_empty());
    assert_eq!(pass.next_run_at, Some(at("2030-06-01T12:01:00Z")));

    let t1 = at("2030-06-01T12:01:00.250Z");
    let pass = enqueuer.enqueue_due(t1).await.unwrap();
    assert_eq!(pass.enqueued.len(), 1);
    assert_eq!(pass.next_run_at, Some(at("2030-06-01T12:02:00Z")));
    // The same time again, or a second enqueuer: no repeat.
    let again = CronEnqueuer::new(db.clone(), Duration::from_secs(60));
    assert!(again.enqueue_due(t1).await.unwrap().enqueued.is_empty());
    assert!(enqueuer.enqueue_due(t1).await.unwrap().enqueued.is_empty());
    let jobs = cron_jobs(&db, "minutely").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].scheduled_at, at("2030-06-01T12:01:00Z"));
    let listed = client.cron_list().await.unwrap();
    assert_eq!(listed[0].last_run_at, Some(at("2030-06-01T12:01:00Z")));

    // Disabled: nothing, even when due.
    let disabled = CronSchedule::new(
        "minutely",
        "noop",
        json!({}),
        "0 * * * * *".parse().unwrap(),
    )
    .timezone("Europe/Paris")
    .unwrap()
    .enabled(false);
    client.cron_upsert_at(disabled, t1).await.unwrap();
    let t2 = at("2030-06-01T12:02:01Z");
    assert!(enqueuer.enqueue_due(t2).await.unwrap().enqueued.is_empty());
    assert!(client.cron_delete("minutely").await.unwrap());
    assert!(client.cron_list().await.unwrap().is_empty());
}

pub async fn missed_tick_policies(db: Db) {
    let client = Client::from_arc(db.clone());
    let t0 = at("2030-01-01T00:00:30Z");
    for (name, policy) in [
        ("skip", MissedPolicy::Skip),
        ("once", MissedPolicy::RunOnce),
        ("catch-up", MissedPolicy::CatchUp),
    ] {
        let schedule = CronSchedule::new(name, "noop", json!({}), "0 * * * * *".parse().unwrap())
            .missed(policy);
        client.cron_upsert_at(schedule, t0).await.unwrap();
    }
    // Down from before 00:01 until 00:10:30: ticks 00:01 .. 00:10 were missed (10), and the
    // last one is 30 s old, beyond a 5 s grace.
    let enqueuer = CronEnqueuer::new(db.clone(), Duration::from_secs(5));
    let now = at("2030-01-01T00:10:30Z");
    enqueuer.enqueue_due(now).await.unwrap();
    assert_eq!(cron_jobs(&db, "skip").await.len(), 0);
    let once = cron_jobs(&db, "once").await;
    assert_eq!(once.len(), 1);
    assert_eq!(once[0].scheduled_at, at("2030-01-01T00:10:00Z"));
    let caught: Vec<DateTime<Utc>> = cron_jobs(&db, "catch-up")
        .await
        .iter()
        .map(tick_of)
        .collect();
    assert_eq!(caught.len(), 10);
    assert_eq!(caught[0], at("2030-01-01T00:01:00Z"));
    assert_eq!(caught[9], at("2030-01-01T00:10:00Z"));
    // All three continue with the next future tick.
    for row in client.cron_list().await.unwrap() {
        assert_eq!(
            row.next_run_at,
            at("2030-01-01T00:11:00Z"),
            "{}",
            row.definition.name
        );
    }
    // Back on time: every policy runs the tick.
    enqueuer
        .enqueue_due(at("2030-01-01T00:11:01Z"))
        .await
        .unwrap();
    assert_eq!(cron_jobs(&db, "skip").await.len(), 1);
    assert_eq!(cron_jobs(&db, "once").await.len(), 2);
    assert_eq!(cron_jobs(&db, "catch-up").await.len(), 11);
}

pub async fn changed_schedule_recomputes_next_run(db: Db) {
    let client = Client::from_arc(db.clone());
    let t0 = at("2030-01-01T00:00:30Z");
    let hourly: Schedule = "0 0 * * * *".parse().unwrap();
    let row = client
        .cron_upsert_at(
            CronSchedule::new("s", "noop", json!({}), hourly.clone()),
            t0,
        )
        .await
        .unwrap();
    assert_eq!(row.next_run_at, at("2030-01-01T01:00:00Z"));
    // Same timing, other args, later: the pending tick is kept.
    let t1 = at("2030-01-01T00:20:00Z");
    let row = client
        .cron_upsert_at(CronSchedule::new("s", "noop", json!({"v": 2}), hourly), t1)
        .await
        .unwrap();
    assert_eq!(row.next_run_at, at("2030-01-01T01:00:00Z"));
    assert_eq!(row.definition.args, json!({"v": 2}));
    // New timing: recomputed from now.
    let row = client
        .cron_upsert_at(
            CronSchedule::new("s", "noop", json!({}), "@every 5m".parse().unwrap()),
            t1,
        )
        .await
        .unwrap();
    assert_eq!(row.next_run_at, at("2030-01-01T00:25:00Z"));
    assert_eq!(row.definition.spec, "@every 5m");
    // New time zone: recomputed too.
    let row = client
        .cron_upsert_at(
            CronSchedule::new("s", "noop", json!({}), "0 0 9 * * *".parse().unwrap())
                .timezone("Asia/Tokyo")
                .unwrap(),
            t1,
        )
        .await
        .unwrap();
    assert_eq!(row.next_run_at, at("2030-01-02T00:00:00Z"));
    // Invalid input is refused before anything is stored.
    let bad = CronSchedule::new(
        "bad",
        "no spaces allowed",
        json!({}),
        "@every 1m".parse().unwrap(),
    );
    assert!(matches!(
        client.cron_upsert_at(bad, t1).await,
        Err(backlog::Error::Schedule(_))
    ));
    assert!(
        CronSchedule::new("tz", "noop", json!({}), "@every 1m".parse().unwrap())
            .timezone("Mars/Olympus")
            .is_err()
    );
    assert_eq!(client.cron_list().await.unwrap().len(), 1);
}
