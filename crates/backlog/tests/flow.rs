//! Flow control, results and progress end to end, each test on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backlog::{
    Client, Job, JobArgs, JobError, JobEvent, JobState, JobValueError, QueueUpdateParams, Runner,
    RunnerConfig, Storage, Worker, Workers,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, Notify};

type Db = Arc<dyn Storage>;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage: super::Db = std::sync::Arc::new(
                        backlog::sqlite::testing::test_storage().await.expect("sqlite"),
                    );
                    super::$name(storage).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let storage: super::Db =
                        std::sync::Arc::new(backlog::postgres::testing::test_storage().await);
                    super::$name(storage).await;
                }
            )*
        }
    };
}

on_both_backends!(
    kind_limit_is_respected_without_blocking_other_kinds,
    two_runners_never_exceed_max_running,
    pause_takes_effect_and_resume_wakes_the_runner,
    progress_and_result_are_visible_through_the_client,
);

/// Counts jobs running at once and the peak.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Gauge {
    async fn hold(&self, work: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(work).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Serialize, Deserialize)]
struct Slow;
impl JobArgs for Slow {
    const KIND: &'static str = "slow";
}

/// At most two `slow` jobs at once in a runner.
struct SlowWorker(Gauge);
impl Worker for SlowWorker {
    type Args = Slow;
    async fn work(&self, _job: Job<Slow>) -> Result<(), JobError> {
        self.0.hold(Duration::from_millis(30)).await;
        Ok(())
    }
    fn max_concurrent(&self) -> Option<usize> {
        Some(2)
    }
}

#[derive(Serialize, Deserialize)]
struct Quick;
impl JobArgs for Quick {
    const KIND: &'static str = "quick";
}

struct QuickWorker(Gauge);
impl Worker for QuickWorker {
    type Args = Quick;
    async fn work(&self, _job: Job<Quick>) -> Result<(), JobError> {
        self.0.hold(Duration::from_millis(5)).await;
        Ok(())
    }
}

fn fast(config: &mut RunnerConfig) {
    config.maintenance_config.schedule_interval = Duration::from_millis(50);
    config.poll_interval = Duration::from_millis(200);
}

async fn wait_completed(events: &mut broadcast::Receiver<JobEvent>, n: usize) -> Vec<JobEvent> {
    let wait = async {
        let mut done = Vec::new();
        while done.len() < n {
            match events.recv().await {
                Ok(e) if e.state == Some(JobState::Completed) => done.push(e),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
        done
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("fewer than {n} jobs completed within 30 s"))
}

async fn kind_limit_is_respected_without_blocking_other_kinds(db: Db) {
    let (slow, quick) = (Gauge::default(), Gauge::default());
    let runner = Runner::builder(
        db.clone(),
        Workers::new()
            .register(SlowWorker(slow.clone()))
            .register(QuickWorker(quick.clone())),
    )
    .queue("default", 8)
    .configure(fast)
    .start()
    .unwrap();
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    client.enqueue_many((0..12).map(|_| Slow)).await.unwrap();
    client.enqueue_many((0..12).map(|_| Quick)).await.unwrap();
    let done = wait_completed(&mut events, 24).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(slow.peak.load(Ordering::SeqCst), 2, "slow's limit is 2");
    let quick_done = done.iter().filter(|e| e.kind == "quick").count();
    assert_eq!(quick_done, 12);
    // Quick jobs were not stuck behind the slow kind: they all finished before the last slow.
    let last_quick = done.iter().rposition(|e| e.kind == "quick").unwrap();
    let last_slow = done.iter().rposition(|e| e.kind == "slow").unwrap();
    assert!(last_quick < last_slow, "quick jobs waited for slow ones");
}

#[derive(Serialize, Deserialize)]
struct Shared;
impl JobArgs for Shared {
    const KIND: &'static str = "shared";
}

struct SharedWorker(Gauge);
impl Worker for SharedWorker {
    type Args = Shared;
    async fn work(&self, _job: Job<Shared>) -> Result<(), JobError> {
        self.0.hold(Duration::from_millis(15)).await;
        Ok(())
    }
}

async fn two_runners_never_exceed_max_running(db: Db) {
    let client = Client::from_arc(db.clone());
    client
        .queue_update(QueueUpdateParams {
            queue: "default".into(),
            max_running: Some(Some(3)),
            rate_limit: None,
            partition_max_running: None,
        })
        .await
        .unwrap();
    let gauge = Gauge::default();
    let start = || {
        Runner::builder(
            db.clone(),
            Workers::new().register(SharedWorker(gauge.clone())),
        )
        .queue("default", 10)
        .configure(|c| {
            fast(c);
            c.poll_interval = Duration::from_millis(20);
        })
        .start()
        .unwrap()
    };
    let (a, b) = (start(), start());
    let (mut events_a, mut events_b) = (a.subscribe(), b.subscribe());
    client.enqueue_many((0..40).map(|_| Shared)).await.unwrap();
    let completed = |e: Result<JobEvent, broadcast::error::RecvError>| {
        usize::from(matches!(e, Ok(e) if e.state == Some(JobState::Completed)))
    };
    let mut done = 0;
    let all_done = async {
        while done < 40 {
            done += tokio::select! {
                e = events_a.recv() => completed(e),
                e = events_b.recv() => completed(e),
            };
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all_done)
        .await
        .expect("not all 40 jobs done within 30 s");
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    let peak = gauge.peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak {peak} running, limit 3");
}

async fn pause_takes_effect_and_resume_wakes_the_runner(db: Db) {
    let gauge = Gauge::default();
    let runner = Runner::builder(db.clone(), Workers::new().register(QuickWorker(gauge)))
        .queue("default", 4)
        .configure(|c| {
            fast(c);
            // Far longer than the test: only the resume wake-up can start the job in time.
            c.poll_interval = Duration::from_secs(60);
        })
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    client.queue_pause("default").await.unwrap();
    let id = client.enqueue(Quick).await.unwrap();
    // A negative result needs a wait: the insert woke the producer, whose fetch must skip the
    // paused queue.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        client.job_get(id).await.unwrap().unwrap().state,
        JobState::Available,
        "a paused queue's job started"
    );
    let resumed = Instant::now();
    assert!(client.queue_resume("default").await.unwrap());
    wait_completed(&mut events, 1).await;
    assert!(
        resumed.elapsed() < Duration::from_secs(1),
        "resume took {:?} to start the job",
        resumed.elapsed()
    );
    runner.shutdown(Duration::from_secs(5)).await;
}

#[derive(Serialize, Deserialize)]
struct Report;
impl JobArgs for Report {
    const KIND: &'static str = "report";
}

struct ReportWorker {
    reported: Arc<Notify>,
    proceed: Arc<Notify>,
}

impl Worker for ReportWorker {
    type Args = Report;
    async fn work(&self, job: Job<Report>) -> Result<(), JobError> {
        job.set_progress(json!({"percent": 10}))?;
        job.set_progress(json!({"percent": 50, "message": "halfway"}))?;
        self.reported.notify_one();
        self.proceed.notified().await;
        match job.set_result("x".repeat(2048)) {
            Err(JobValueError::TooLarge { size, max: 1024 }) if size > 2048 => {}
            other => {
                return Err(JobError::discard(format!(
                    "expected TooLarge, got {other:?}"
                )))
            }
        }
        job.set_progress(json!({"percent": 100}))?;
        job.set_result(json!({"rows": 42}))?;
        Ok(())
    }
}

async fn progress_and_result_are_visible_through_the_client(db: Db) {
    let (reported, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let worker = ReportWorker {
        reported: reported.clone(),
        proceed: proceed.clone(),
    };
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .configure(|c| {
            fast(c);
            c.max_result_bytes = 1024;
        })
        .start()
        .unwrap();
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Report).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), reported.notified())
        .await
        .expect("job started");
    // The last value wins; throttled writes land within a few intervals.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let row = client.job_get(id).await.unwrap().unwrap();
        if row.progress == Some(json!({"percent": 50, "message": "halfway"})) {
            assert_eq!(row.state, JobState::Running);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "progress not visible: {:?}",
            row.progress
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proceed.notify_one();
    wait_completed(&mut events, 1).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let row = client.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(row.result, Some(json!({"rows": 42})));
    assert_eq!(row.progress, Some(json!({"percent": 100})));
}
