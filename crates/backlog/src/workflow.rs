//! Workflows: jobs with dependencies between them, built with [`Workflow`] and inserted
//! together by [`Client::workflow_insert`](crate::Client::workflow_insert).
//!
//! A job added with dependencies runs only after each of them completed. If a dependency is
//! discarded or cancelled, the dependant is cancelled too ([`DependencyFailure::Cancel`], the
//! default) or runs anyway ([`DependencyFailure::Run`]), per edge. A running job reads its
//! dependencies' results with [`Job::dependency_results`](crate::Job::dependency_results).
//! See `docs/workflows.md`.

use std::sync::atomic::{AtomicU64, Ordering};

use backlog_storage::{DependencyFailure, WorkflowDependency, WorkflowInvalid};

use crate::{EnqueueError, InsertOpts, JobArgs};

/// Tells the steps of different workflows apart.
static NEXT_WORKFLOW: AtomicU64 = AtomicU64::new(1);

/// A handle on a job added to a [`Workflow`], to make other jobs depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    workflow: u64,
    index: usize,
}

impl Step {
    /// The job's position in the workflow: its id is
    /// [`WorkflowInsertResult::job_ids`](backlog_storage::WorkflowInsertResult)`[index]`.
    pub fn index(self) -> usize {
        self.index
    }
}

/// One job of a workflow before it is validated by the client.
#[derive(Debug)]
pub(crate) struct PendingJob {
    pub(crate) kind: std::borrow::Cow<'static, str>,
    pub(crate) args: Result<serde_json::Value, serde_json::Error>,
    pub(crate) opts: InsertOpts,
}

/// A set of jobs with dependencies between them, inserted in one transaction.
///
/// ```
/// use backlog::{DependencyFailure, JobArgs, Workflow};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Extract;
/// # impl JobArgs for Extract { const KIND: &'static str = "extract"; }
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Load { part: u32 }
/// # impl JobArgs for Load { const KIND: &'static str = "load"; }
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Report;
/// # impl JobArgs for Report { const KIND: &'static str = "report"; }
///
/// let mut workflow = Workflow::new("nightly import");
/// let extract = workflow.add(Extract);
/// let loads: Vec<_> = (0..3).map(|part| workflow.add_after(Load { part }, &[extract])).collect();
/// let report = workflow.add_after(Report, &loads);
/// // The report also runs if a load failed for good.
/// for load in &loads {
///     workflow.depend_with(report, *load, DependencyFailure::Run);
/// }
/// assert_eq!(workflow.len(), 5);
/// ```
#[derive(Debug)]
pub struct Workflow {
    id: u64,
    pub(crate) name: String,
    pub(crate) jobs: Vec<PendingJob>,
    pub(crate) dependencies: Vec<WorkflowDependency>,
    /// An edge naming a step of another workflow (reported at insert).
    pub(crate) foreign: Option<(usize, Step)>,
    pub(crate) idempotency_key: Option<String>,
}

impl Workflow {
    /// An empty workflow; `name` (1 to 255 characters) is for people and need not be unique.
    pub fn new(name: impl Into<String>) -> Workflow {
        Workflow {
            id: NEXT_WORKFLOW.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            jobs: Vec::new(),
            dependencies: Vec::new(),
            foreign: None,
            idempotency_key: None,
        }
    }

    /// Makes the insert safe to repeat: a workflow already inserted under `key` (1 to 255
    /// bytes of printable ASCII, e.g. a request id) is not inserted again, and the insert
    /// returns it with [`duplicate`](backlog_storage::WorkflowInsertResult::duplicate) set.
    /// The key is kept as long as the workflow (until the retention prunes it).
    pub fn idempotency_key(&mut self, key: impl Into<String>) -> &mut Workflow {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Adds a job with no dependencies and the kind's default options.
    pub fn add<A: JobArgs>(&mut self, args: A) -> Step {
        self.add_with(args, InsertOpts::new(), &[])
    }

    /// Adds a job that runs after every job of `after` completed.
    pub fn add_after<A: JobArgs>(&mut self, args: A, after: &[Step]) -> Step {
        self.add_with(args, InsertOpts::new(), after)
    }

    /// Adds a job with options (queue, priority, attempts, tags…) that runs after `after`.
    /// Uniqueness and idempotency keys are refused at insert: every job of a workflow is new.
    /// A run time is ignored for a job with dependencies: it runs once they have settled.
    pub fn add_with<A: JobArgs>(&mut self, args: A, opts: InsertOpts, after: &[Step]) -> Step {
        self.push(
            PendingJob {
                kind: A::KIND.into(),
                args: serde_json::to_value(&args),
                opts: opts.or(A::default_opts()),
            },
            after,
        )
    }

    /// Adds a job given by kind name and JSON args (a kind with no Rust type in this process,
    /// as the CLI's `backlog workflows create` does), with options, that runs after `after`.
    /// The kind is checked at insert like [`Client::enqueue_raw`](crate::Client::enqueue_raw)'s.
    pub fn add_raw(
        &mut self,
        kind: impl Into<String>,
        args: serde_json::Value,
        opts: InsertOpts,
        after: &[Step],
    ) -> Step {
        self.push(
            PendingJob {
                kind: kind.into().into(),
                args: Ok(args),
                opts,
            },
            after,
        )
    }

    fn push(&mut self, job: PendingJob, after: &[Step]) -> Step {
        let index = self.jobs.len();
        self.jobs.push(job);
        let step = Step {
            workflow: self.id,
            index,
        };
        for &dependency in after {
            self.depend_with(step, dependency, DependencyFailure::Cancel);
        }
        step
    }

    /// Makes `job` depend on `on`, cancelling `job` if `on` fails for good.
    pub fn depend(&mut self, job: Step, on: Step) -> &mut Workflow {
        self.depend_with(job, on, DependencyFailure::Cancel)
    }

    /// Makes `job` depend on `on` with a failure policy. An edge that already exists takes the
    /// new policy. Cycles are refused at insert ([`WorkflowInvalid::Cycle`]).
    pub fn depend_with(
        &mut self,
        job: Step,
        on: Step,
        on_failure: DependencyFailure,
    ) -> &mut Workflow {
        for step in [job, on] {
            if step.workflow != self.id && self.foreign.is_none() {
                self.foreign = Some((job.index, step));
            }
        }
        if let Some(edge) = self
            .dependencies
            .iter_mut()
            .find(|e| e.job == job.index && e.depends_on == on.index)
        {
            edge.on_failure = on_failure;
        } else {
            self.dependencies.push(WorkflowDependency {
                job: job.index,
                depends_on: on.index,
                on_failure,
            });
        }
        self
    }

    /// How many jobs it has.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether it has no job.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// Why a workflow was not inserted. Nothing was stored when this is returned, except with
/// [`WorkflowError::Insert`] wrapping [`EnqueueError::OutcomeUnknown`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The graph is refused: a cycle, a missing job, no job, a bad name or a keyed job.
    #[error("workflow refused: {0}")]
    Invalid(#[from] WorkflowInvalid),
    /// A dependency names a step of another workflow.
    #[error("job #{job} of the workflow depends on step #{} of another workflow; steps can only link jobs of the workflow that returned them", .step.index)]
    ForeignStep {
        /// The dependant's index.
        job: usize,
        /// The foreign step.
        step: Step,
    },
    /// A job's args or options are refused.
    #[error("workflow job #{index}: {source}")]
    Enqueue {
        /// The job's index in the workflow.
        index: usize,
        /// Why.
        source: EnqueueError,
    },
    /// The database refused or failed the insert ([`EnqueueError::Storage`]), or the
    /// connection broke before it replied ([`EnqueueError::OutcomeUnknown`]: the workflow may
    /// or may not have been stored; check with
    /// [`Client::workflow_list`](crate::Client::workflow_list)).
    #[error("could not insert the workflow: {0}")]
    Insert(EnqueueError),
}
