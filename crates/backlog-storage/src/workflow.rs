//! Workflows: jobs with dependencies between them (a DAG), inserted together.
//!
//! A job with dependencies (a *dependant*) is stored `scheduled` at [`waiting_for_dependencies`] (the year 9999)
//! with a count of dependencies still to settle (`deps_left`), so that neither the claim nor the
//! scheduler ever sees it. When a dependency is finalized, the same transaction decrements the
//! count of its dependants; the one that reaches zero becomes `available` (and the usual wake-up
//! is sent). A dependency that ends `discarded` or `cancelled` cancels its dependants unless the
//! edge says [`DependencyFailure::Run`]. The counts are updated under the dependants' row locks,
//! so two dependencies settling at once in two connections cannot both miss the last one.

use backlog_types::{JobId, JobRow, JobState};
use chrono::{DateTime, TimeZone, Utc};

use crate::{Error, ErrorKind, JobInsert};

/// The `scheduled_at` of a job waiting for its dependencies: 9999-12-31T23:59:59Z, a time the
/// scheduler never reaches. The job becomes `available` (at the current time) when its
/// dependencies have settled, never by the clock.
pub fn waiting_for_dependencies() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A workflow's id.
pub type WorkflowId = i64;

/// What happens to a dependant when one of its dependencies ends `discarded` or `cancelled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DependencyFailure {
    /// The dependant (and, through their own edges, its dependants) is cancelled. The default.
    #[default]
    Cancel,
    /// The dependant runs anyway, as if the dependency had completed.
    Run,
}

impl DependencyFailure {
    /// The value stored in `backlog_job_dependency.on_failure`.
    pub fn code(self) -> i16 {
        match self {
            DependencyFailure::Cancel => 0,
            DependencyFailure::Run => 1,
        }
    }

    /// The policy of a stored code (unknown codes read as the default, [`Cancel`](Self::Cancel)).
    pub fn from_code(code: i16) -> DependencyFailure {
        match code {
            1 => DependencyFailure::Run,
            _ => DependencyFailure::Cancel,
        }
    }
}

/// One edge of a workflow: `job` runs after `depends_on`, both indexes into
/// [`WorkflowInsertParams::jobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowDependency {
    /// The dependant.
    pub job: usize,
    /// The job it waits for.
    pub depends_on: usize,
    /// What happens to `job` if `depends_on` fails for good or is cancelled.
    pub on_failure: DependencyFailure,
}

/// Parameters of [`Storage::workflow_insert`](crate::Storage::workflow_insert).
#[derive(Debug, Clone, Default)]
pub struct WorkflowInsertParams {
    /// A name for people (1 to 255 characters); not unique.
    pub name: String,
    /// The jobs; their ids are returned in this order. Uniqueness and idempotency keys are not
    /// allowed: every job of a workflow is a new job.
    pub jobs: Vec<JobInsert>,
    /// The edges.
    pub dependencies: Vec<WorkflowDependency>,
    /// The producer's key for this insert (1 to 255 bytes, validated like a job's idempotency
    /// key): if a workflow was already inserted with it, nothing is stored and the result is
    /// that workflow's, with `duplicate: true`. Kept as long as the workflow row.
    pub idempotency_key: Option<String>,
}

/// Result of [`Storage::workflow_insert`](crate::Storage::workflow_insert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowInsertResult {
    /// The new workflow.
    pub id: WorkflowId,
    /// The jobs' ids, in input order.
    pub job_ids: Vec<JobId>,
    /// Whether the workflow had been inserted before under the same idempotency key (nothing
    /// new was stored; `id` and `job_ids` are the earlier insert's).
    pub duplicate: bool,
}

/// Why a workflow was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowInvalid {
    /// The name is empty or longer than 255 characters.
    #[error("workflow name must be 1 to 255 characters, got {0}")]
    Name(usize),
    /// The workflow has no jobs.
    #[error("a workflow needs at least one job")]
    Empty,
    /// An edge names a job that is not in the workflow.
    #[error("dependency of job #{job} on job #{depends_on}: the workflow has only {len} jobs")]
    MissingDependency {
        /// The dependant's index.
        job: usize,
        /// The missing index.
        depends_on: usize,
        /// How many jobs there are.
        len: usize,
    },
    /// A job depends on itself, directly or through others.
    #[error("the dependencies form a cycle through jobs {0:?}; a workflow must be acyclic")]
    Cycle(Vec<usize>),
    /// A job carries a uniqueness or idempotency key.
    #[error("job #{0} of the workflow has a uniqueness or idempotency key; workflow jobs cannot have one")]
    Keyed(usize),
    /// The workflow's own idempotency key is invalid (the message says why).
    #[error("workflow idempotency key refused: {0}")]
    IdempotencyKey(String),
}

impl From<WorkflowInvalid> for Error {
    fn from(invalid: WorkflowInvalid) -> Error {
        Error::new(ErrorKind::InvalidInput, invalid.to_string()).with_source(invalid)
    }
}

/// Checks a workflow before anything is stored: a name, at least one job, no key on any job,
/// every edge between two of its jobs, and no cycle. Returns the edges without duplicates (the
/// first of two edges between the same jobs wins) and, per job, how many it waits for.
pub fn check_workflow(params: &WorkflowInsertParams) -> Result<CheckedWorkflow, WorkflowInvalid> {
    let len = params.jobs.len();
    let name_len = params.name.chars().count();
    if name_len == 0 || name_len > 255 {
        return Err(WorkflowInvalid::Name(name_len));
    }
    if len == 0 {
        return Err(WorkflowInvalid::Empty);
    }
    if let Some(keyed) = params
        .jobs
        .iter()
        .position(|j| j.unique.is_some() || j.idempotency.is_some())
    {
        return Err(WorkflowInvalid::Keyed(keyed));
    }
    if let Some(key) = &params.idempotency_key {
        crate::validate_idempotency_key(key)
            .map_err(|e| WorkflowInvalid::IdempotencyKey(e.message().to_owned()))?;
    }
    let mut waiting = vec![0i32; len];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); len];
    let mut seen = std::collections::HashSet::with_capacity(params.dependencies.len());
    let mut edges = Vec::with_capacity(params.dependencies.len());
    for edge in &params.dependencies {
        if edge.job >= len || edge.depends_on >= len {
            return Err(WorkflowInvalid::MissingDependency {
                job: edge.job,
                depends_on: edge.depends_on,
                len,
            });
        }
        if !seen.insert((edge.job, edge.depends_on)) {
            continue;
        }
        edges.push(*edge);
        waiting[edge.job] += 1;
        dependants[edge.depends_on].push(edge.job);
    }
    // Kahn's algorithm: whatever cannot be ordered lies on (or behind) a cycle.
    let mut left = waiting.clone();
    let mut ready: Vec<usize> = (0..len).filter(|&i| left[i] == 0).collect();
    let mut ordered = 0;
    while let Some(job) = ready.pop() {
        ordered += 1;
        for &next in &dependants[job] {
            left[next] -= 1;
            if left[next] == 0 {
                ready.push(next);
            }
        }
    }
    if ordered < len {
        return Err(WorkflowInvalid::Cycle(
            (0..len).filter(|&i| left[i] > 0).collect(),
        ));
    }
    Ok(CheckedWorkflow { waiting, edges })
}

/// A workflow that passed [`check_workflow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedWorkflow {
    /// Per job, how many dependencies it waits for.
    pub waiting: Vec<i32>,
    /// The edges, without duplicates.
    pub edges: Vec<WorkflowDependency>,
}

impl CheckedWorkflow {
    /// The workflow's jobs as every backend inserts them: each one that waits for dependencies
    /// is scheduled at [`waiting_for_dependencies`], with no `run_after`.
    pub fn park_waiting(&self, jobs: Vec<JobInsert>) -> Vec<JobInsert> {
        let waiting = waiting_for_dependencies();
        jobs.into_iter()
            .zip(&self.waiting)
            .map(|(mut job, &deps)| {
                if deps > 0 {
                    job.scheduled_at = Some(waiting);
                    job.run_after = None;
                }
                job
            })
            .collect()
    }
}

/// A workflow and how many of its jobs are in each state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRow {
    /// Its id.
    pub id: WorkflowId,
    /// Its name.
    pub name: String,
    /// When it was inserted.
    pub created_at: DateTime<Utc>,
    /// Jobs per state (states with none left out), in lifecycle order. Jobs waiting for their
    /// dependencies count as `scheduled`, and also in [`waiting`](Self::waiting).
    pub states: Vec<(JobState, u64)>,
    /// Jobs waiting for dependencies.
    pub waiting: u64,
}

impl WorkflowRow {
    /// How many jobs the workflow has (those the cleaner deleted no longer count).
    pub fn total(&self) -> u64 {
        self.states.iter().map(|(_, n)| n).sum()
    }

    /// Whether every job is finalized.
    pub fn is_finished(&self) -> bool {
        self.states.iter().all(|(state, _)| state.is_finalized())
    }
}

/// Parameters of [`Storage::workflow_list`](crate::Storage::workflow_list).
#[derive(Debug, Clone)]
pub struct WorkflowListParams {
    /// Only workflows with an id below this one (keyset pagination, newest first).
    pub before_id: Option<WorkflowId>,
    /// At most this many.
    pub limit: u32,
}

impl Default for WorkflowListParams {
    fn default() -> Self {
        WorkflowListParams {
            before_id: None,
            limit: 100,
        }
    }
}

/// One job of a workflow, with its place in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowJob {
    /// The job.
    pub job: JobRow,
    /// How many of its dependencies have not settled yet (0 once it is released).
    pub deps_left: i32,
    /// The jobs it depends on, ascending.
    pub depends_on: Vec<JobId>,
}

/// Parameters of [`Storage::workflow_prune`](crate::Storage::workflow_prune) and
/// [`Storage::batch_prune`](crate::Storage::batch_prune): one window of a sweep over the
/// table in id order.
///
/// A sweep examines every row, so its cost grows with the rows kept (workflows stay as long
/// as their jobs' retention). Cut into windows of `limit` rows, each call is one short
/// transaction, however many rows there are: on SQLite the one writer never stalls on a
/// sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneParams {
    /// Examine at most this many rows (so delete at most this many) per call.
    pub limit: u32,
    /// Examine the rows with an id above this one: `0` to start a sweep, then the previous
    /// call's [`Pruned::next`].
    pub after: i64,
}

impl PruneParams {
    /// The first window of a sweep of `limit` rows.
    pub fn start(limit: u32) -> PruneParams {
        PruneParams { limit, after: 0 }
    }
}

/// What one window of [`PruneParams`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted.
    pub deleted: u64,
    /// Where the next window starts (the last id examined), or `None` when this window held
    /// fewer than `limit` rows: the sweep has reached the end of the table.
    pub next: Option<i64>,
}

impl Pruned {
    /// The answer for a window that examined `examined` rows up to id `last`.
    pub fn window(deleted: u64, examined: u64, last: Option<i64>, limit: u32) -> Pruned {
        Pruned {
            deleted,
            next: last.filter(|_| examined >= u64::from(limit)),
        }
    }
}

/// A dependency's outcome, as its dependant reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencyResult {
    /// The dependency.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its state (a dependant normally runs once every dependency is `completed`, or with
    /// [`DependencyFailure::Run`] also after a failure).
    pub state: JobState,
    /// The result it recorded, if any.
    pub result: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_continues_after_its_last_id_and_a_short_one_ends_the_sweep() {
        assert_eq!(Pruned::window(3, 10, Some(42), 10).next, Some(42));
        assert_eq!(Pruned::window(3, 9, Some(42), 10).next, None);
        assert_eq!(Pruned::window(0, 0, None, 10).next, None);
        assert_eq!(PruneParams::start(7), PruneParams { limit: 7, after: 0 });
    }

    fn params(n: usize, edges: &[(usize, usize)]) -> WorkflowInsertParams {
        WorkflowInsertParams {
            name: "w".into(),
            jobs: (0..n)
                .map(|_| JobInsert::new("default", "k", serde_json::json!({})))
                .collect(),
            dependencies: edges
                .iter()
                .map(|&(job, depends_on)| WorkflowDependency {
                    job,
                    depends_on,
                    on_failure: DependencyFailure::Cancel,
                })
                .collect(),
            idempotency_key: None,
        }
    }

    #[test]
    fn counts_dependencies_of_a_diamond() {
        let checked =
            check_workflow(&params(4, &[(1, 0), (2, 0), (3, 1), (3, 2), (3, 1)])).unwrap();
        assert_eq!(checked.waiting, vec![0, 1, 1, 2]);
        assert_eq!(checked.edges.len(), 4, "the repeated edge is dropped");
    }

    #[test]
    fn refuses_cycles_missing_jobs_and_keys() {
        assert_eq!(
            check_workflow(&params(3, &[(1, 0), (2, 1), (1, 2)])),
            Err(WorkflowInvalid::Cycle(vec![1, 2]))
        );
        assert_eq!(
            check_workflow(&params(1, &[(0, 0)])),
            Err(WorkflowInvalid::Cycle(vec![0]))
        );
        assert!(matches!(
            check_workflow(&params(2, &[(1, 5)])),
            Err(WorkflowInvalid::MissingDependency { depends_on: 5, .. })
        ));
        assert_eq!(check_workflow(&params(0, &[])), Err(WorkflowInvalid::Empty));
        let mut keyed = params(2, &[]);
        keyed.jobs[1].unique = Some(crate::UniqueInsert {
            key: vec![1],
            states: 1,
            on_conflict: crate::OnConflict::Skip,
        });
        assert_eq!(check_workflow(&keyed), Err(WorkflowInvalid::Keyed(1)));
    }
}
