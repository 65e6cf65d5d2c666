//! [`Workers`]: the kinds a runner knows and the type-erased workers that run them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::RateLimit;
use backlog_types::JobRow;
use tokio_util::sync::CancellationToken;

use crate::context::JobContext;
use crate::{Backoff, Job, JobArgs, JobError, Worker};

pub(crate) type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// A worker with its argument type erased, so one registry holds every kind.
pub(crate) trait ErasedWorker: Send + Sync {
    /// Decodes the row's args and returns the attempt's future, or why the args don't decode.
    fn start(
        &self,
        row: &JobRow,
        cancellation: CancellationToken,
        context: JobContext,
    ) -> Result<JobFuture, serde_json::Error>;
    fn backoff(&self) -> Backoff;
    fn timeout(&self) -> Option<Duration>;
    fn max_concurrent(&self) -> Option<usize>;
    fn rate_limit(&self) -> Option<RateLimit>;
}

struct Typed<W>(Arc<W>);

impl<W: Worker> ErasedWorker for Typed<W> {
    fn start(
        &self,
        row: &JobRow,
        cancellation: CancellationToken,
        context: JobContext,
    ) -> Result<JobFuture, serde_json::Error> {
        let args = <W::Args as serde::Deserialize>::deserialize(&row.args)?;
        let job = Job::from_row(row, args, cancellation, context);
        let worker = self.0.clone();
        Ok(Box::pin(async move { worker.work(job).await }))
    }

    fn backoff(&self) -> Backoff {
        self.0.backoff()
    }

    fn timeout(&self) -> Option<Duration> {
        self.0.timeout()
    }

    fn max_concurrent(&self) -> Option<usize> {
        self.0.max_concurrent()
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.0.rate_limit()
    }
}

/// The set of workers a [`Runner`](crate::Runner) can run, one per job kind.
///
/// ```
/// # use backlog::{Job, JobArgs, JobError, Worker, Workers};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping;
/// # impl JobArgs for Ping { const KIND: &'static str = "ping"; }
/// # struct Pinger;
/// # impl Worker for Pinger { type Args = Ping;
/// #   async fn work(&self, _job: Job<Ping>) -> Result<(), JobError> { Ok(()) } }
/// let workers = Workers::new().register(Pinger);
/// assert_eq!(workers.kinds(), vec!["ping"]);
/// ```
#[derive(Clone, Default)]
pub struct Workers {
    by_kind: HashMap<&'static str, Arc<dyn ErasedWorker>>,
}

impl Workers {
    /// No workers yet.
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Adds the worker for `W::Args::KIND`, replacing any earlier one for that kind.
    pub fn register<W: Worker>(mut self, worker: W) -> Workers {
        self.add(worker);
        self
    }

    /// Adds the worker for `W::Args::KIND` in place.
    pub fn add<W: Worker>(&mut self, worker: W) {
        self.by_kind.insert(
            <W::Args as JobArgs>::KIND,
            Arc::new(Typed(Arc::new(worker))),
        );
    }

    /// Adds a synchronous, CPU-heavy worker that runs on `pool`'s threads rather than on the
    /// async runtime; see [`crate::blocking`].
    pub fn register_blocking<W: crate::BlockingWorker>(
        mut self,
        worker: W,
        pool: &crate::BlockingPool,
    ) -> Workers {
        self.add(crate::blocking::OnPool::new(worker, pool));
        self
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.by_kind.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Each registered kind with its worker.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &Arc<dyn ErasedWorker>)> {
        self.by_kind.iter().map(|(kind, worker)| (*kind, worker))
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Arc<dyn ErasedWorker>> {
        self.by_kind.get(kind)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}
