//! Blocking, CPU-heavy workers on their own thread pool (`backlog::blocking`), end to end on
//! both backends: heartbeats stay on time while every pool thread computes, cancellation and
//! timeouts reach the computation, and a blocking kind runs no more attempts than its pool
//! has threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backlog::{
    BlockingPool, BlockingWorker, Client, Job, JobArgs, JobError, JobEvent, JobId, JobState,
    Runner, Storage, Workers,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

type Db = Arc<dyn Storage>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Crunch {
    /// How long to compute, in milliseconds of busy CPU; 0: until cancelled.
    spin_ms: u64,
}

impl JobArgs for Crunch {
    const KIND: &'static str = "crunch";
}

/// What a computing job saw of its own lease: (wall time, the lease's expiry in the database).
type Sightings = Arc<Mutex<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>>>;

struct Cruncher {
    db: Db,
    runtime: tokio::runtime::Handle,
    sightings: Sightings,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
    started: Arc<tokio::sync::Notify>,
    timeout: Option<Duration>,
}

impl Cruncher {
    fn new(db: &Db) -> Cruncher {
        Cruncher {
            db: db.clone(),
            runtime: tokio::runtime::Handle::current(),
            sightings: Sightings::default(),
            running: Arc::default(),
            most_running: Arc::default(),
            started: Arc::default(),
            timeout: None,
        }
    }
}

impl BlockingWorker for Cruncher {
    type Args = Crunch;

    fn work(&self, job: Job<Crunch>) -> Result<(), JobError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        self.started.notify_one();
        let began = Instant::now();
        let mut next_look = Duration::ZERO;
        let outcome = loop {
            if job.is_cancelled() {
                break Err(JobError::cancel("stopped between steps"));
            }
            let spent = began.elapsed();
            if job.args.spin_ms > 0 && spent >= Duration::from_millis(job.args.spin_ms) {
                break Ok(());
            }
            if job.args.spin_ms > 0 && spent >= next_look {
                // Look at this job's lease from the computing thread, through the runtime
                // the runner lives on (which must therefore still be serving).
                let row = self.runtime.block_on(self.db.job_get(job.id)).unwrap();
                let expires = row.and_then(|r| r.lease_expires_at);
                self.sightings.lock().unwrap().push((Utc::now(), expires));
                next_look += Duration::from_millis(150);
            }
            std::hint::spin_loop();
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Waits until every job of `ids` has reached `want`, in any order.
async fn wait_for_all(events: &mut broadcast::Receiver<JobEvent>, ids: &[JobId], want: JobState) {
    let mut left: std::collections::HashSet<JobId> = ids.iter().copied().collect();
    let wait = async {
        while !left.is_empty() {
            match events.recv().await {
                Ok(e) if e.state == Some(want) => {
                    left.remove(&e.id);
                }
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .is_err()
    {
        panic!("jobs {ids:?} did not all reach {want} within 30 s");
    }
}

async fn wait_for(events: &mut broadcast::Receiver<JobEvent>, id: JobId, want: JobState) {
    wait_for_all(events, &[id], want).await
}

fn runner(db: &Db, workers: Workers, lease: Duration) -> Runner {
    Runner::builder(db.clone(), workers)
        .queue("default", 8)
        .configure(|c| {
            c.lease = lease;
            c.maintenance_config.schedule_interval = Duration::from_millis(50);
            c.maintenance_config.rescue_interval = Duration::from_millis(100);
        })
        .start()
        .expect("runner starts")
}

/// Two jobs compute for three leases each on the pool's two threads, while the runner lives on
/// a single-threaded runtime: the leases are renewed throughout (seen from inside the jobs), and
/// both complete on their first attempt — the rescuer, which looks every 100 ms, never took
/// them. Computing on the runtime thread instead would starve the heartbeats.
async fn heartbeats_stay_on_time_while_every_thread_computes(db: Db) {
    let pool = BlockingPool::new(2).unwrap();
    let cruncher = Cruncher::new(&db);
    let sightings = cruncher.sightings.clone();
    let lease = Duration::from_millis(600);
    let runner = runner(
        &db,
        Workers::new().register_blocking(cruncher, &pool),
        lease,
    );
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let a = client.enqueue(Crunch { spin_ms: 1_800 }).await.unwrap();
    let b = client.enqueue(Crunch { spin_ms: 1_800 }).await.unwrap();
    wait_for_all(&mut events, &[a, b], JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;

    for id in [a, b] {
        let row = db.job_get(id).await.unwrap().unwrap();
        assert_eq!(
            row.attempt, 1,
            "job {id} was rescued: its heartbeats stopped"
        );
        assert!(row.errors.is_empty(), "unexpected errors: {:?}", row.errors);
    }
    let sightings = sightings.lock().unwrap();
    assert!(
        sightings.len() >= 2 * 10,
        "too few looks: {}",
        sightings.len()
    );
    for (at, expires) in sightings.iter() {
        let expires = expires.expect("a running job has a lease");
        assert!(
            expires > *at,
            "the lease had run out ({expires}) while the job computed ({at})"
        );
    }
    let renewals = sightings.windows(2).filter(|w| w[1].1 > w[0].1).count();
    assert!(renewals >= 4, "the lease was renewed only {renewals} times");
}

/// A cancellation request reaches a blocking job through `Job::is_cancelled`.
async fn cancellation_reaches_the_computation(db: Db) {
    let pool = BlockingPool::new(1).unwrap();
    let cruncher = Cruncher::new(&db);
    let started = cruncher.started.clone();
    let runner = runner(
        &db,
        Workers::new().register_blocking(cruncher, &pool),
        Duration::from_secs(5),
    );
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Crunch { spin_ms: 0 }).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), started.notified())
        .await
        .expect("the job started");
    client.job_cancel(id).await.unwrap();
    wait_for(&mut events, id, JobState::Cancelled).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(pool.busy(), 0, "the pool thread was freed");
}

/// A timeout ends the attempt and tells the computation to stop; the job is retried.
async fn timeout_reaches_the_computation(db: Db) {
    let pool = BlockingPool::new(1).unwrap();
    let mut cruncher = Cruncher::new(&db);
    cruncher.timeout = Some(Duration::from_millis(200));
    let running = cruncher.running.clone();
    let runner = runner(
        &db,
        Workers::new().register_blocking(cruncher, &pool),
        Duration::from_secs(5),
    );
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Crunch { spin_ms: 0 }).await.unwrap();
    wait_for(&mut events, id, JobState::Retryable).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let row = db.job_get(id).await.unwrap().unwrap();
    assert!(
        row.errors[0].message.contains("timed out") || row.errors[0].message.contains("timeout"),
        "error: {:?}",
        row.errors
    );
    assert_eq!(running.load(Ordering::SeqCst), 0, "the computation stopped");
}

/// With queue concurrency 8 and a pool of one thread, attempts of the blocking kind run one at
/// a time: jobs are not claimed only to wait for a thread.
async fn runs_no_more_than_the_pool_has_threads(db: Db) {
    let pool = BlockingPool::new(1).unwrap();
    let cruncher = Cruncher::new(&db);
    let most = cruncher.most_running.clone();
    let runner = runner(
        &db,
        Workers::new().register_blocking(cruncher, &pool),
        Duration::from_secs(5),
    );
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(client.enqueue(Crunch { spin_ms: 30 }).await.unwrap());
    }
    wait_for_all(&mut events, &ids, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(most.load(Ordering::SeqCst), 1);
}

macro_rules! on_both_backends {
    ($flavor:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name(backlog::testing::sqlite_storage().await.unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name(backlog::testing::postgres_storage().await.unwrap()).await;
                }
            )*
        }
    };
}

mod single_threaded_runtime {
    use super::heartbeats_stay_on_time_while_every_thread_computes;
    on_both_backends!("current_thread"; heartbeats_stay_on_time_while_every_thread_computes);
}

mod multi_threaded_runtime {
    use super::{
        cancellation_reaches_the_computation, runs_no_more_than_the_pool_has_threads,
        timeout_reaches_the_computation,
    };
    on_both_backends!(
        "multi_thread";
        cancellation_reaches_the_computation,
        timeout_reaches_the_computation,
        runs_no_more_than_the_pool_has_threads,
    );
}
