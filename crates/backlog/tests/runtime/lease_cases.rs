//! Runtime behaviours that issue 6 lists as untested: heartbeats keeping a long job's lease
//! alive, and the cluster-wide per-kind rate limit. Jobs wait on signals, not on sleeps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backlog::{Client, Job, JobArgs, JobError, JobState, RateLimit, Runner, Workers};
use serde::{Deserialize, Serialize};

use crate::faulty::{Fault, Faulty};
use crate::resilience_cases::{held_worker, recv, Held};
use crate::support::{wait_for, wait_for_n, Db};

/// A job that outlives its lease several times over is not rescued while its runner
/// heartbeats: it completes on its first attempt with no recorded error. The job holds until
/// nine heartbeats (three leases' worth, every lease / 3) have renewed its lease.
pub async fn heartbeats_keep_a_long_job_alive(db: Db) {
    let observed = Arc::new(Faulty::new(db.clone(), Fault::None));
    let mut beats = observed.beats.subscribe();
    let observed: Db = observed;
    let (worker, mut signals) = held_worker();
    let runner = Runner::builder(observed, Workers::new().register(worker))
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
    let id = Client::from_arc(db.clone())
        .enqueue(Held { n: 0 })
        .await
        .unwrap();
    assert_eq!(recv(&mut signals.started, "the job starts").await, id);
    let started = Instant::now();
    // Heartbeats only run while a job is held; the rescuer looks every 100 ms meanwhile.
    tokio::time::timeout(Duration::from_secs(20), beats.wait_for(|n| *n >= 9))
        .await
        .expect("nine heartbeats within 20 s")
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "nine heartbeats in {:?}: faster than every lease / 3",
        started.elapsed()
    );
    signals.go.add_permits(1);
    wait_for(&mut events, id, JobState::Completed).await;
    let stats = runner.stats();
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.leases_lost, 0, "{stats:?}");
    assert!(signals.dropped.try_recv().is_err(), "the job was stopped");
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
