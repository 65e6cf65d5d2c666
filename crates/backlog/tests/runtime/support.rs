//! Shared test workers and helpers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backlog::{Backoff, Job, JobArgs, JobError, JobEvent, JobId, JobState, Storage};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub type Db = Arc<dyn Storage>;

pub async fn sqlite() -> Db {
    Arc::new(
        backlog::sqlite::testing::test_storage()
            .await
            .expect("sqlite test storage"),
    )
}

pub async fn postgres() -> Db {
    Arc::new(backlog::postgres::testing::test_storage().await)
}

/// Waits for the recorded outcome of `id` reaching a final state (or `want`).
pub async fn wait_for(
    events: &mut broadcast::Receiver<JobEvent>,
    id: JobId,
    want: JobState,
) -> JobEvent {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) if e.id == id && e.state == Some(want) => return e,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("job {id} did not reach {want} within 20 s"))
}

/// Waits until `n` outcomes with state `want` have been recorded.
pub async fn wait_for_n(
    events: &mut broadcast::Receiver<JobEvent>,
    n: usize,
    want: JobState,
) -> Vec<JobEvent> {
    let wait = async {
        let mut got = Vec::new();
        while got.len() < n {
            match events.recv().await {
                Ok(e) if e.state == Some(want) => got.push(e),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(k)) => panic!("lagged by {k} events"),
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
        got
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("fewer than {n} jobs reached {want} within 30 s"))
}

/// A job whose behaviour is chosen by its args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub fail_times: i32,
    #[serde(default)]
    pub panic: bool,
    #[serde(default)]
    pub action: Action,
    #[serde(default)]
    pub work_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub enum Action {
    #[default]
    Succeed,
    Discard,
    Cancel,
    SnoozeOnce,
    Hang,
    /// Runs until its cancellation token fires, then returns an error saying so.
    UntilCancelled,
}

impl Task {
    pub fn ok() -> Task {
        Task {
            fail_times: 0,
            panic: false,
            action: Action::Succeed,
            work_ms: 0,
        }
    }
}

impl JobArgs for Task {
    const KIND: &'static str = "task";
}

/// Runs [`Task`]s, recording the order of job ids started and the peak concurrency.
#[derive(Clone, Default)]
pub struct TaskWorker {
    pub started: Arc<Mutex<Vec<JobId>>>,
    pub running: Arc<AtomicUsize>,
    pub peak: Arc<AtomicUsize>,
    pub timeout: Option<Duration>,
}

impl backlog::Worker for TaskWorker {
    type Args = Task;

    async fn work(&self, job: Job<Task>) -> Result<(), JobError> {
        self.started.lock().unwrap().push(job.id);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let _guard = Decrement(self.running.clone());
        let args = job.args.clone();
        if args.work_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.work_ms)).await;
        }
        if job.attempt <= args.fail_times {
            if args.panic {
                panic!("task blew up on attempt {}", job.attempt);
            }
            return Err(JobError::retry(format!(
                "failing on purpose, attempt {}",
                job.attempt
            )));
        }
        match args.action {
            Action::Succeed => Ok(()),
            Action::Discard => Err(JobError::discard("not worth retrying")),
            Action::Cancel => Err(JobError::cancel("no longer needed")),
            Action::SnoozeOnce
                if job.errors.is_empty()
                    && job.metadata.get("snoozed").is_none()
                    && self
                        .started
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|id| **id == job.id)
                        .count()
                        == 1 =>
            {
                Err(JobError::snooze(Duration::from_millis(50)))
            }
            Action::SnoozeOnce => Ok(()),
            Action::Hang => {
                std::future::pending::<()>().await;
                Ok(())
            }
            Action::UntilCancelled => {
                job.cancelled().await;
                Err(JobError::retry("saw the cancellation token"))
            }
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::Fixed(Duration::from_millis(20))
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

struct Decrement(Arc<AtomicUsize>);
impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls `check` every 20 ms until it returns true (for effects of background services that
/// send no event, such as the cleaner); panics after 20 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
    }
}
