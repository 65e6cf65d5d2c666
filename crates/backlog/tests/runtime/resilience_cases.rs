//! Runtime behaviours issue 6 lists as untested: a lost lease stops the local task, poison
//! jobs are discarded, a job ignoring cancellation is dropped after the grace period, fenced
//! outcomes are counted and reported, and metrics and spans are emitted under their documented
//! names. Each runs on both backends; nothing sleeps to wait, every wait is on a signal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backlog::storage::JobRescueParams;
use backlog::{
    telemetry, Client, InsertOpts, Job, JobArgs, JobError, JobEvent, JobId, JobState, Runner,
    Worker, Workers,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::support::{wait_for, Db, Task, TaskWorker};

macro_rules! cases {
    ($flavor:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name(crate::support::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = $flavor)]
                async fn $name() {
                    super::$name(crate::support::postgres().await).await;
                }
            )*
        }
    };
}

mod threaded {
    use super::*;
    cases!(
        "multi_thread";
        lost_lease_stops_the_local_task,
        poison_job_is_discarded_after_max_attempts,
        ignored_cancellation_is_dropped_after_the_grace_period,
        shutdown_drops_a_job_ignoring_it_in_time,
    );
}

// These install a thread-local tracing subscriber and metrics recorder, so every task of the
// runner must run on the test's thread.
mod local {
    use super::*;
    cases!(
        "current_thread";
        fenced_outcome_is_counted_and_reported,
        metrics_and_spans_are_emitted,
    );
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    pub n: u32,
}

impl JobArgs for Held {
    const KIND: &'static str = "held";
}

/// Sends on drop: tells the test that a job's future was dropped (the local task stopped).
struct DropSignal(mpsc::UnboundedSender<JobId>, JobId);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

/// Reports its start, then either waits for a permit of `go` and completes, or (with no
/// permit ever given) never returns and ignores its cancellation token; reports when its future
/// is dropped before finishing.
#[derive(Clone)]
pub(crate) struct HeldWorker {
    started: mpsc::UnboundedSender<JobId>,
    dropped: mpsc::UnboundedSender<JobId>,
    go: Arc<Semaphore>,
}

pub(crate) struct HeldSignals {
    pub started: mpsc::UnboundedReceiver<JobId>,
    pub dropped: mpsc::UnboundedReceiver<JobId>,
    pub go: Arc<Semaphore>,
}

pub(crate) fn held_worker() -> (HeldWorker, HeldSignals) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let (dropped, dropped_rx) = mpsc::unbounded_channel();
    let go = Arc::new(Semaphore::new(0));
    (
        HeldWorker {
            started,
            dropped,
            go: go.clone(),
        },
        HeldSignals {
            started: started_rx,
            dropped: dropped_rx,
            go,
        },
    )
}

impl Worker for HeldWorker {
    type Args = Held;

    async fn work(&self, job: Job<Held>) -> Result<(), JobError> {
        let guard = DropSignal(self.dropped.clone(), job.id);
        let _ = self.started.send(job.id);
        let permit = self.go.acquire().await.expect("semaphore open");
        permit.forget();
        std::mem::forget(guard);
        Ok(())
    }
}

pub(crate) async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} within 20 s"))
        .expect("channel open")
}

/// Waits for the event of a fenced outcome (`state: None`) of `id`.
async fn wait_for_fenced(events: &mut broadcast::Receiver<JobEvent>, id: JobId) -> JobEvent {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) if e.id == id && e.state.is_none() => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no fenced outcome for job {id} within 20 s"))
}

/// Takes every running job from its holder, as the rescuer of another process would once the
/// lease looked expired (the database clock is moved an hour on).
async fn steal_leases(db: &Db) -> Vec<JobId> {
    let later = db.now().await.unwrap() + chrono::Duration::hours(1);
    db.job_rescue(JobRescueParams {
        now: Some(later),
        max: 100,
        poison_threshold: 0,
    })
    .await
    .unwrap()
}

/// A heartbeat that finds the job taken from this process stops the local task (its future
/// is dropped), and the attempt's outcome is not written over the rescuer's.
pub async fn lost_lease_stops_the_local_task(db: Db) {
    let (worker, mut signals) = held_worker();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .queue("default", 2)
        .configure(|c| {
            // Heartbeats every 200 ms; this runner's own rescuer stays out of the way.
            c.lease = Duration::from_millis(600);
            c.maintenance = false;
        })
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let id = Client::from_arc(db.clone())
        .enqueue(Held { n: 1 })
        .await
        .unwrap();
    assert_eq!(recv(&mut signals.started, "the job starts").await, id);
    assert_eq!(steal_leases(&db).await, vec![id]);
    let rescued = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(rescued.state, JobState::Retryable);
    assert_eq!(
        recv(&mut signals.dropped, "the local task is stopped").await,
        id
    );
    let event = wait_for_fenced(&mut events, id).await;
    assert_eq!(event.attempt, 1);
    let stats = runner.stats();
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.leases_lost, stats.fenced), (1, 1), "{stats:?}");
    assert_eq!(stats.finished(), stats.fenced, "{stats:?}");
    let after = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(
        after.state, rescued.state,
        "the stopped attempt wrote an outcome"
    );
    assert_eq!(after.errors.len(), rescued.errors.len());
    assert_eq!(after.attempt_durations_us, rescued.attempt_durations_us);
    assert_eq!(after.scheduled_at, rescued.scheduled_at);
    assert_eq!(signals.go.available_permits(), 0);
}

/// A job that panics on every attempt ends discarded after its last attempt, every panic
/// recorded with its message; the runner survives and keeps running other jobs.
pub async fn poison_job_is_discarded_after_max_attempts(db: Db) {
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .queue("default", 2)
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let poison = Task {
        fail_times: i32::MAX,
        panic: true,
        ..Task::ok()
    };
    let id = client
        .enqueue_with(poison, InsertOpts::new().max_attempts(4))
        .await
        .unwrap();
    let event = wait_for(&mut events, id, JobState::Discarded).await;
    assert_eq!(event.attempt, 4);
    assert!(
        event
            .error
            .as_deref()
            .unwrap_or("")
            .contains("task blew up on attempt 4"),
        "{event:?}"
    );
    let healthy = client.enqueue(Task::ok()).await.unwrap();
    wait_for(&mut events, healthy, JobState::Completed).await;
    let stats = runner.stats();
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.retried, stats.discarded), (3, 1), "{stats:?}");
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Discarded);
    assert_eq!(row.attempt, 4);
    assert!(row.finalized_at.is_some());
    assert_eq!(row.errors.len(), 4);
    for (n, error) in row.errors.iter().enumerate() {
        assert!(error.panicked, "attempt {} not recorded as a panic", n + 1);
        assert!(
            error
                .message
                .contains(&format!("task blew up on attempt {}", n + 1)),
            "{}",
            error.message
        );
    }
}

/// A running job that ignores its cancellation request is dropped once the grace period has
/// passed, and ends `cancelled` with an error saying so.
pub async fn ignored_cancellation_is_dropped_after_the_grace_period(db: Db) {
    let grace = Duration::from_millis(300);
    let (worker, mut signals) = held_worker();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .queue("default", 2)
        .configure(|c| c.cancel_grace = grace)
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let client = Client::from_arc(db.clone());
    let id = client.enqueue(Held { n: 2 }).await.unwrap();
    assert_eq!(recv(&mut signals.started, "the job starts").await, id);
    let asked = Instant::now();
    client.job_cancel(id).await.unwrap();
    assert_eq!(recv(&mut signals.dropped, "the job is dropped").await, id);
    let waited = asked.elapsed();
    let event = wait_for(&mut events, id, JobState::Cancelled).await;
    runner.shutdown(Duration::from_secs(5)).await;
    assert!(
        waited >= grace,
        "dropped after {waited:?}, before the {grace:?} grace period"
    );
    assert!(
        waited < Duration::from_secs(5),
        "dropped only after {waited:?}"
    );
    let error = event.error.unwrap_or_default();
    assert!(error.contains("did not stop within"), "{error}");
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Cancelled);
    assert!(row.lease_expires_at.is_none());
}

/// Shutdown does not wait for a job that ignores it beyond the deadline: it returns in time,
/// the job's future is dropped and the job is handed back for another attempt.
pub async fn shutdown_drops_a_job_ignoring_it_in_time(db: Db) {
    let (worker, mut signals) = held_worker();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .queue("default", 2)
        .start()
        .expect("runner starts");
    let id = Client::from_arc(db.clone())
        .enqueue(Held { n: 3 })
        .await
        .unwrap();
    assert_eq!(recv(&mut signals.started, "the job starts").await, id);
    let asked = Instant::now();
    runner.shutdown(Duration::from_millis(200)).await;
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(
        signals
            .dropped
            .try_recv()
            .expect("the job's future was dropped"),
        id
    );
    let row = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Retryable, "handed back, not lost");
    assert!(row.lease_expires_at.is_none());
    assert_eq!(row.attempt, 1);
    assert!(
        row.errors[0].message.contains("interrupted"),
        "{}",
        row.errors[0].message
    );
}

/// A worker that finishes a job after its lease was taken has its outcome rejected: the
/// runner counts it (`fenced`), reports an event without a state and logs a warning, and the
/// job keeps the rescuer's state.
pub async fn fenced_outcome_is_counted_and_reported(db: Db) {
    let capture = Capture::default();
    let _tracing = tracing::subscriber::set_default(capture.clone());
    let (worker, mut signals) = held_worker();
    let runner = Runner::builder(db.clone(), Workers::new().register(worker))
        .queue("default", 2)
        .configure(|c| {
            // No heartbeat notices the loss before the worker finishes.
            c.lease = Duration::from_secs(120);
            c.maintenance = false;
        })
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let id = Client::from_arc(db.clone())
        .enqueue(Held { n: 4 })
        .await
        .unwrap();
    assert_eq!(recv(&mut signals.started, "the job starts").await, id);
    assert_eq!(steal_leases(&db).await, vec![id]);
    let rescued = db.job_get(id).await.unwrap().unwrap();
    signals.go.add_permits(1);
    let event = wait_for_fenced(&mut events, id).await;
    assert_eq!((event.attempt, event.error.as_deref()), (1, None));
    let stats = runner.stats();
    runner.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (stats.fenced, stats.completed, stats.leases_lost),
        (1, 0, 0),
        "{stats:?}"
    );
    let after = db.job_get(id).await.unwrap().unwrap();
    assert_eq!(after.state, rescued.state, "a fenced outcome was applied");
    assert_eq!(after.attempt_durations_us, rescued.attempt_durations_us);
    let warned = capture.events().into_iter().any(|(level, message)| {
        level == tracing::Level::WARN && message.contains("outcome rejected")
    });
    assert!(warned, "no warning logged: {:?}", capture.events());
}

/// One job completed, one failed then completed: the documented metric names are recorded
/// with queue and kind labels, and each attempt runs in a `backlog.job` span.
pub async fn metrics_and_spans_are_emitted(db: Db) {
    let capture = Capture::default();
    let _tracing = tracing::subscriber::set_default(capture.clone());
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let client = Client::from_arc(db.clone());
    let runner = Runner::builder(db.clone(), Workers::new().register(TaskWorker::default()))
        .queue("default", 2)
        .start()
        .expect("runner starts");
    let mut events = runner.subscribe();
    let ok = client.enqueue(Task::ok()).await.unwrap();
    let flaky = client
        .enqueue(Task {
            fail_times: 1,
            ..Task::ok()
        })
        .await
        .unwrap();
    wait_for(&mut events, ok, JobState::Completed).await;
    wait_for(&mut events, flaky, JobState::Completed).await;
    runner.shutdown(Duration::from_secs(5)).await;

    let mut seen: Vec<String> = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        if let metrics_util::debugging::DebugValue::Counter(n) = value {
            seen.push(format!("{} {} {n}", key.name(), labels.join(",")));
        } else {
            seen.push(format!("{} {}", key.name(), labels.join(",")));
        }
    }
    for want in [
        format!("{} queue=default,kind=task 2", telemetry::JOBS_ENQUEUED),
        format!("{} queue=default,kind=task 3", telemetry::JOBS_STARTED),
        format!("{} queue=default,kind=task 2", telemetry::JOBS_COMPLETED),
        format!("{} queue=default,kind=task 1", telemetry::JOBS_FAILED),
        format!("{} queue=default,kind=task", telemetry::ATTEMPT_DURATION),
        format!("{} queue=default,kind=task", telemetry::START_LATENCY),
    ] {
        assert!(seen.contains(&want), "missing `{want}` in {seen:#?}");
    }

    let spans = capture.spans();
    let job_spans: Vec<&String> = spans
        .iter()
        .filter(|(name, _)| name == "backlog.job")
        .map(|(_, fields)| fields)
        .collect();
    assert_eq!(job_spans.len(), 3, "one span per attempt: {spans:?}");
    assert!(
        job_spans
            .iter()
            .any(|f| f.contains(&format!("job.id={flaky}")) && f.contains("job.attempt=2")),
        "{job_spans:?}"
    );
    assert!(job_spans
        .iter()
        .all(|f| f.contains("job.kind=task") && f.contains("job.queue=default")));
    let retry_logged = capture.events().into_iter().any(|(level, message)| {
        level == tracing::Level::WARN && message.contains("job failed; will retry")
    });
    assert!(retry_logged, "{:?}", capture.events());
}

/// A minimal tracing subscriber recording span names with their fields and event messages.
#[derive(Clone, Default)]
struct Capture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    spans: Vec<(String, String)>,
    events: Vec<(tracing::Level, String)>,
}

impl Capture {
    fn spans(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().spans.clone()
    }

    fn events(&self) -> Vec<(tracing::Level, String)> {
        self.inner.lock().unwrap().events.clone()
    }
}

/// Renders every field as `name=value`, space-separated.
#[derive(Default)]
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(&format!("{}={value:?}", field.name()));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(&format!("{}={value}", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields::default();
        span.record(&mut fields);
        let mut inner = self.inner.lock().unwrap();
        inner
            .spans
            .push((span.metadata().name().to_owned(), fields.0));
        tracing::span::Id::from_u64(inner.spans.len() as u64)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.inner
            .lock()
            .unwrap()
            .events
            .push((*event.metadata().level(), fields.0));
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
