//! Blocking, CPU-heavy work on a bounded pool of threads of its own.
//!
//! A [`Worker`] is async: its `work` runs on the tokio runtime beside the runner's own tasks
//! (fetching, heartbeats, completions). A job that computes for seconds without awaiting —
//! face detection, image renditions, compression — would hold a runtime thread that whole time,
//! and with every runtime thread held, heartbeats stop and leases run out under jobs that are
//! in fact running.
//!
//! A [`BlockingWorker`] is a plain synchronous function instead. Registered with
//! [`Workers::register_blocking`](crate::Workers::register_blocking), each attempt runs on a [`BlockingPool`]: a fixed number of OS
//! threads sized for the CPU work, apart from the runner's async concurrency. The async side
//! only waits for the thread's answer, so heartbeats and completions stay on time while every
//! pool thread is busy.
//!
//! - **Concurrency:** at most [`BlockingPool::threads`] attempts compute at once; more attempts
//!   of blocking kinds wait for a free thread (their leases are renewed while they wait, and the
//!   wait counts toward a timeout). By default a blocking kind runs at most as many attempts as
//!   its pool has threads, so jobs are not claimed only to queue for a thread.
//! - **Timeouts and cancellation:** a thread cannot be stopped from outside. On a timeout or a
//!   cancellation request the attempt ends as usual (the job is retried or cancelled) and
//!   [`Job::is_cancelled`] turns true; a blocking job honours it by checking between steps. A
//!   job that does not check finishes its computation in the background, holding its thread,
//!   and its result is ignored.
//! - **Panics** are recorded like an async worker's panic; the pool thread survives.
//!
//! ```
//! use std::time::Duration;
//! use backlog::{BlockingPool, BlockingWorker, Job, JobArgs, JobError, Workers};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Thumbnail { path: String, width: u32 }
//! impl JobArgs for Thumbnail { const KIND: &'static str = "thumbnail"; }
//!
//! struct Thumbnailer;
//! impl BlockingWorker for Thumbnailer {
//!     type Args = Thumbnail;
//!     fn work(&self, job: Job<Thumbnail>) -> Result<(), JobError> {
//!         for _row in 0..job.args.width {
//!             if job.is_cancelled() {
//!                 return Err(JobError::cancel("stopped between rows"));
//!             }
//!             // ... scale one row of pixels ...
//!         }
//!         Ok(())
//!     }
//!     fn timeout(&self) -> Option<Duration> { Some(Duration::from_secs(60)) }
//! }
//!
//! let pool = BlockingPool::new(2).expect("threads start");
//! let workers = Workers::new().register_blocking(Thumbnailer, &pool);
//! assert_eq!(workers.kinds(), vec!["thumbnail"]);
//! ```

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use backlog_storage::RateLimit;
use tokio::sync::oneshot;

use crate::{Backoff, Job, JobArgs, JobError, Worker};

/// A synchronous worker for CPU-heavy or blocking jobs; see the [module docs](self).
///
/// The same as [`Worker`] but `work` is a plain function, run on a [`BlockingPool`] thread.
pub trait BlockingWorker: Send + Sync + 'static {
    /// The job's arguments; their [`JobArgs::KIND`] names the kind this worker runs.
    type Args: JobArgs;

    /// Runs one attempt on a pool thread. Check [`Job::is_cancelled`] between steps to honour
    /// cancellation and timeouts.
    fn work(&self, job: Job<Self::Args>) -> Result<(), JobError>;

    /// How long to wait before each retry; see [`Worker::backoff`] (the default inherits the
    /// queue's, else the runner's).
    fn backoff(&self) -> Backoff {
        Backoff::Inherit
    }

    /// Longest an attempt may take, counted from when it was started (including any wait for
    /// a free pool thread); see [`Worker::timeout`].
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Most attempts of this kind running at once in this process. `None` (the default):
    /// the pool's thread count.
    fn max_concurrent(&self) -> Option<usize> {
        None
    }

    /// A cluster-wide start rate for this kind; see [`Worker::rate_limit`].
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }
}

type Task = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of OS threads running [`BlockingWorker`] attempts.
///
/// Cheap to clone (a handle); the threads exit once every handle, and every registered worker
/// using it, is dropped. One pool can serve several kinds, which then share its threads.
#[derive(Clone)]
pub struct BlockingPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    sender: Mutex<mpsc::Sender<Task>>,
    threads: usize,
    busy: Arc<AtomicUsize>,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("threads", &self.inner.threads)
            .field("busy", &self.busy())
            .finish()
    }
}

/// [`BlockingPool::new`] could not start its threads.
#[derive(Debug, thiserror::Error)]
pub enum BlockingPoolError {
    /// A pool needs at least one thread.
    #[error("a blocking pool needs at least one thread; got 0")]
    NoThreads,
    /// The operating system refused to start a thread.
    #[error("could not start blocking pool thread {index}: {source}")]
    Spawn {
        /// Which thread (0-based).
        index: usize,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl BlockingPool {
    /// Starts a pool of `threads` OS threads (named `backlog-blocking-N`). Size it for the CPU
    /// work — often the number of cores you give to it — independently of the runner's queue
    /// concurrency.
    pub fn new(threads: usize) -> Result<BlockingPool, BlockingPoolError> {
        if threads == 0 {
            return Err(BlockingPoolError::NoThreads);
        }
        let (sender, receiver) = mpsc::channel::<Task>();
        let receiver = Arc::new(Mutex::new(receiver));
        let busy = Arc::new(AtomicUsize::new(0));
        for index in 0..threads {
            let receiver = receiver.clone();
            let busy = busy.clone();
            std::thread::Builder::new()
                .name(format!("backlog-blocking-{index}"))
                .spawn(move || loop {
                    // The lock is held only while taking the next task, not while running it.
                    let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(task) = next else { return };
                    busy.fetch_add(1, Ordering::SeqCst);
                    // The task counts itself out before it answers (see `run`).
                    task();
                })
                .map_err(|source| BlockingPoolError::Spawn { index, source })?;
        }
        Ok(BlockingPool {
            inner: Arc::new(PoolInner {
                sender: Mutex::new(sender),
                threads,
                busy,
            }),
        })
    }

    /// How many threads the pool has.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// How many threads are running an attempt right now.
    pub fn busy(&self) -> usize {
        self.inner.busy.load(Ordering::SeqCst)
    }

    /// Runs `f` on a pool thread and returns its value; a panic in `f` is resumed here.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let busy = self.inner.busy.clone();
        let task: Task = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            // Free before answering, so whoever gets the answer sees the thread free.
            busy.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(outcome);
        });
        let sent = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(task);
        if sent.is_err() {
            return None;
        }
        match rx.await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => None,
        }
    }
}

/// A [`BlockingWorker`] bound to its pool: the [`Worker`] that
/// [`Workers::register_blocking`](crate::Workers::register_blocking) registers.
pub struct OnPool<W> {
    worker: Arc<W>,
    pool: BlockingPool,
}

impl<W> OnPool<W> {
    /// Binds `worker` to `pool`.
    pub fn new(worker: W, pool: &BlockingPool) -> OnPool<W> {
        OnPool {
            worker: Arc::new(worker),
            pool: pool.clone(),
        }
    }
}

impl<W: BlockingWorker> Worker for OnPool<W> {
    type Args = W::Args;

    async fn work(&self, job: Job<W::Args>) -> Result<(), JobError> {
        let worker = self.worker.clone();
        self.pool
            .run(move || worker.work(job))
            .await
            .unwrap_or_else(|| Err(JobError::retry("the blocking pool's threads are gone")))
    }

    fn backoff(&self) -> Backoff {
        self.worker.backoff()
    }

    fn timeout(&self) -> Option<Duration> {
        self.worker.timeout()
    }

    fn max_concurrent(&self) -> Option<usize> {
        Some(
            self.worker
                .max_concurrent()
                .unwrap_or(self.pool.threads())
                .max(1),
        )
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.worker.rate_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_on_its_own_threads_and_resumes_panics() {
        let pool = BlockingPool::new(2).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("backlog-blocking-"));
        let panicked = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| panic!("boom")).await }
        })
        .await;
        assert!(panicked.unwrap_err().is_panic());
        // The thread that panicked is still there.
        assert_eq!(pool.run(|| 7).await, Some(7));
        assert_eq!(pool.busy(), 0);
    }

    #[test]
    fn zero_threads_is_refused() {
        assert!(matches!(
            BlockingPool::new(0),
            Err(BlockingPoolError::NoThreads)
        ));
    }
}
