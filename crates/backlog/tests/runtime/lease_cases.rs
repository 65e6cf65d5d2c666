//! Runtime behaviours that issue 6 lists as untested: heartbeats keeping a long job's lease
//! alive, and the cluster-wide per-kind rate limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backlog::{Client, Job, JobArgs, JobError, JobState, RateLimit, Runner, Workers};
use serde::{Deserialize, Serialize};

use crate::support::{wait_for, wait_for_n, Db, Task, TaskWorker};

/// A job that outlives its lease several times over is not rescued while its runner
/// heartbeats: it completes on its first attempt with no recorded error.
pub async fn heartbeats_keep_a_long_job_alive(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .queue("default", 2)
        .configure(|c| {
            c.lease = Duration::from_millis(600);
            c.poll_interval = Duration::from_millis(200);
            c.maintenance_config.schedule_interval = Duration::from_millis(50);
            c.maintenance_config.rescue_interval = Duration::from_millis(100);
        })
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    // The work itself lasts three leases; the rescuer looks every 100 ms.
    let id = client
        .enqueue(Task {
            work_ms: 1_800,
            ..Task::ok()
        })
        .await
        .unwrap();
    wait_for(&mut events, id, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let r = db.job_get(id).await.unwrap().expect("job exists");
    assert_eq!(r.state, JobState::Completed);
    assert_eq!(
        r.attempt, 1,
        "the job was rescued although its lease was renewed"
    );
    assert!(r.errors.is_empty(), "unexpected errors: {:?}", r.errors);
    assert_eq!(r.attempted_by.len(), 1);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rated {
    pub n: u32,
}

impl JobArgs for Rated {
    const KIND: &'static str = "rated";
}

/// Records when each job started; at most 2 starts per second.
#[derive(Clone, Default)]
pub struct RatedWorker {
    pub starts: Arc<Mutex<Vec<Instant>>>,
}

impl backlog::Worker for RatedWorker {
    type Args = Rated;

    async fn work(&self, _job: Job<Rated>) -> Result<(), JobError> {
        self.starts.lock().unwrap().push(Instant::now());
        Ok(())
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(RateLimit {
            max: 2,
            period: Duration::from_secs(1),
        })
    }
}

/// The per-kind rate limit: a bucket of 2 refilled at 2 per second lets 2 jobs start at once
/// and the next ones about 500 ms apart; the held-back jobs are snoozed without spending an
/// attempt.
pub async fn per_kind_rate_limit_spaces_starts(db: Db) {
    let client = Client::from_arc(db.clone());
    let worker = RatedWorker::default();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker.clone()))
        .queue("default", 10)
        .configure(|c| {
            c.poll_interval = Duration::from_millis(100);
            c.maintenance_config.schedule_interval = Duration::from_millis(20);
        })
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let ids = client
        .enqueue_many((0..4).map(|n| Rated { n }))
        .await
        .unwrap();
    wait_for_n(&mut events, 4, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let mut starts = worker.starts.lock().unwrap().clone();
    starts.sort();
    assert_eq!(starts.len(), 4, "each job ran exactly once");
    let span = starts[3] - starts[0];
    // Two tokens at once, then one every 500 ms: the fourth start comes >= ~1 s after the first.
    assert!(
        span >= Duration::from_millis(850),
        "4 starts within {span:?} despite a limit of 2 per second"
    );
    for id in ids {
        let r = db.job_get(id).await.unwrap().expect("job exists");
        assert_eq!(r.state, JobState::Completed);
        assert_eq!(r.attempt, 1, "a rate-limited start spent an attempt");
    }
}
