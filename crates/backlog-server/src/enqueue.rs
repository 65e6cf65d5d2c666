//! Producers' `Request`s: protocol job specs to the library's enqueue.

use std::time::Duration;

use backlog::{Client, EnqueueError, InsertOpts, UniqueArgs, UniqueOpts, WorkflowError};
use backlog_protocol::{
    Acknowledged, Backoff as WireBackoff, BatchSpec, CallbackOn as WireCallbackOn, Dependency,
    Enqueued, JobSpec, OnConflict as WireOnConflict, OnDependencyFailure, RejectCode, Rejected,
    Request, UniqueArgs as WireUniqueArgs, UniqueArgsName,
};
use backlog_storage::{
    BatchCallback, BatchCreateParams, CallbackOn, DependencyFailure, ErrorKind, JobInsert,
    WorkflowDependency, WorkflowInsertParams,
};

/// A request checked and turned into the library's inserts, waiting for its statement.
pub(crate) struct Prepared {
    pub(crate) peer: Vec<u8>,
    pub(crate) request: Request,
    pub(crate) jobs: Vec<JobInsert>,
    /// What the jobs form or join, if anything.
    pub(crate) group: Group,
    /// Holds one of `max_inflight_requests` until the answer is sent.
    pub(crate) permit: tokio::sync::OwnedSemaphorePermit,
    /// A worker's slots reserved for a claim in the insert's transaction
    /// ([`crate::dispatch::Dispatch::reserve_for_insert`]).
    pub(crate) claim: Option<crate::dispatch::Claim>,
}

/// What a request's jobs form or join.
pub(crate) enum Group {
    /// Nothing: plain jobs, each under its own idempotency key.
    None,
    /// One workflow, keyed as a whole by the request id; its jobs carry no keys.
    Workflow {
        name: String,
        dependencies: Vec<WorkflowDependency>,
    },
    /// A batch, created first (keyed by the request id) or given, then sealed if asked.
    Batch {
        open: Option<BatchCreateParams>,
        id: Option<i64>,
        seal: bool,
    },
}

/// A checked request: its jobs and what they form.
pub(crate) struct Plan {
    pub(crate) jobs: Vec<JobInsert>,
    pub(crate) group: Group,
}

impl Prepared {
    /// The idempotency keys its jobs claim.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.jobs
            .iter()
            .filter_map(|j| j.idempotency.as_ref().map(|i| i.key.as_str()))
    }

    /// Jobs with `unique` options are inserted alone: their deduplication is not meant to
    /// race other requests' rows inside one statement.
    fn has_unique(&self) -> bool {
        self.jobs.iter().any(|j| j.unique.is_some())
    }

    /// Whether it is stored by a statement of its own (workflows and batches).
    fn alone(&self) -> bool {
        !matches!(self.group, Group::None) || self.has_unique()
    }

    /// Whether its claim, if any, can share a statement with `other`'s: a statement claims for
    /// one worker session and queue (the slots of its requests' claims summed).
    fn claims_with(&self, other: Option<&crate::dispatch::Claim>) -> bool {
        match (&self.claim, other) {
            (Some(a), Some(b)) => a.peer == b.peer && a.session == b.session && a.queue == b.queue,
            _ => true,
        }
    }
}

/// Checks a request and prepares its jobs, or says why it is refused (nothing stored).
///
/// This is the one place the request's idempotency key (`request_id`) meets the library: job
/// *i* of the request is stored under the library's idempotency key `request_id` (a one-job
/// request) or `request_id/i` (a batch), kept for the library's default window
/// (docs/protocol.md). A resent request therefore stores nothing new and is answered with the
/// same ids and `duplicate: true`. A job with `unique` options is deduplicated by its unique
/// key instead (the library refuses both on one job); its resend is answered with
/// `unique_conflict: true`.
pub(crate) fn prepare(
    client: &Client,
    request: &Request,
    max_batch: u32,
) -> Result<Plan, Rejected> {
    let reject = |code, message: String, index: Option<u32>| Rejected {
        request_id: request.request_id.clone(),
        code,
        message,
        index,
        retry_after_ms: None,
    };
    if request.jobs.is_empty() && request.batch.is_none() {
        return Err(reject(
            RejectCode::Invalid,
            "a request needs at least one job (only a batch request may have none, to open or seal a batch)".into(),
            None,
        ));
    }
    if request.jobs.len() > max_batch as usize {
        return Err(reject(
            RejectCode::TooLarge,
            format!(
                "a request holds at most {max_batch} jobs (Welcome.max_batch), got {}; split it",
                request.jobs.len()
            ),
            None,
        ));
    }
    if request.workflow.is_some() && request.batch.is_some() {
        return Err(reject(
            RejectCode::Invalid,
            "a request is a workflow or a batch, not both; send two requests".into(),
            None,
        ));
    }
    let keyed_one_by_one = request.workflow.is_none();
    let mut prepared = Vec::with_capacity(request.jobs.len());
    for (i, spec) in request.jobs.iter().enumerate() {
        let index = Some(i as u32);
        if !spec.after.is_empty() && request.workflow.is_none() {
            return Err(reject(
                RejectCode::Invalid,
                format!("job {i} has `after` dependencies, which only a workflow request may have; add `workflow`"),
                index,
            ));
        }
        if spec.unique.is_some() && (request.workflow.is_some() || request.batch.is_some()) {
            return Err(reject(
                RejectCode::Invalid,
                format!("job {i} is unique, but jobs of a workflow or batch cannot be (the request id already makes the request safe to resend)"),
                index,
            ));
        }
        let kind = spec.kind.clone();
        let args = spec.args.clone();
        let mut opts = insert_opts(spec).map_err(|m| reject(RejectCode::Invalid, m, index))?;
        if spec.unique.is_none() && keyed_one_by_one {
            opts =
                opts.idempotency_key(idempotency_key(&request.request_id, i, request.jobs.len()));
        }
        let job = client.prepare_raw(&kind, args, opts).map_err(|e| {
            let code = match e {
                EnqueueError::ArgsTooLarge { .. } => RejectCode::TooLarge,
                _ => RejectCode::Invalid,
            };
            reject(code, format!("job {i}: {e}"), index)
        })?;
        prepared.push(job);
    }
    let group = if let Some(workflow) = &request.workflow {
        let dependencies = request
            .jobs
            .iter()
            .enumerate()
            .flat_map(|(job, spec)| {
                spec.after.iter().map(move |dep| WorkflowDependency {
                    job,
                    depends_on: dep.job() as usize,
                    on_failure: match dep {
                        Dependency::With {
                            on_failure: Some(OnDependencyFailure::Run),
                            ..
                        } => DependencyFailure::Run,
                        _ => DependencyFailure::Cancel,
                    },
                })
            })
            .collect();
        let group = Group::Workflow {
            name: workflow.name.clone(),
            dependencies,
        };
        // A cycle, a missing job or a bad name is refused here, before anything is stored.
        let params = workflow_params(request, prepared.clone(), &group);
        if let Err(invalid) = backlog_storage::check_workflow(&params) {
            let index = match &invalid {
                backlog_storage::WorkflowInvalid::MissingDependency { job, .. }
                | backlog_storage::WorkflowInvalid::Keyed(job) => Some(*job as u32),
                _ => None,
            };
            return Err(reject(RejectCode::Invalid, invalid.to_string(), index));
        }
        group
    } else if let Some(batch) = &request.batch {
        batch_group(client, request, batch).map_err(|m| reject(RejectCode::Invalid, m, None))?
    } else {
        Group::None
    };
    Ok(Plan {
        jobs: prepared,
        group,
    })
}

/// The storage's workflow insert for a workflow request.
fn workflow_params(request: &Request, jobs: Vec<JobInsert>, group: &Group) -> WorkflowInsertParams {
    let (name, dependencies) = match group {
        Group::Workflow { name, dependencies } => (name.clone(), dependencies.clone()),
        _ => (String::new(), Vec::new()),
    };
    WorkflowInsertParams {
        name,
        jobs,
        dependencies,
        idempotency_key: Some(request.request_id.clone()),
    }
}

/// The batch a request joins: checks `id` xor `open` and prepares the callback.
fn batch_group(client: &Client, request: &Request, batch: &BatchSpec) -> Result<Group, String> {
    let open = match (&batch.id, &batch.open) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(
                "a batch request names exactly one of `batch.id` (an open batch) and `batch.open` (a new one)".into(),
            )
        }
        (Some(_), None) => None,
        (None, Some(open)) => {
            let callback = match &open.callback {
                None => None,
                Some(spec) => {
                    if !spec.args.is_object() {
                        return Err(format!(
                            "the batch callback's args must be a JSON object (the batch's counts are added under \"batch\"), got {}",
                            spec.args
                        ));
                    }
                    let mut opts = InsertOpts::new();
                    if let Some(queue) = &spec.queue {
                        opts = opts.queue(queue.clone());
                    }
                    if let Some(priority) = spec.priority {
                        opts = opts.priority(priority);
                    }
                    if let Some(attempts) = spec.max_attempts {
                        opts = opts.max_attempts(attempts);
                    }
                    let job = client
                        .prepare_raw(&spec.kind, spec.args.clone(), opts)
                        .map_err(|e| format!("batch callback: {e}"))?;
                    Some(BatchCallback {
                        queue: job.queue,
                        kind: job.kind,
                        args: spec.args.clone(),
                        priority: job.priority,
                        max_attempts: job.max_attempts,
                        on: match spec.on {
                            Some(WireCallbackOn::Success) => CallbackOn::Success,
                            _ => CallbackOn::Complete,
                        },
                    })
                }
            };
            Some(BatchCreateParams {
                parent: open.parent,
                description: open.description.clone(),
                callback,
                idempotency_key: Some(request.request_id.clone()),
            })
        }
    };
    Ok(Group::Batch {
        open,
        id: batch.id,
        seal: batch.seal,
    })
}

/// The `Acknowledged` of a request whose jobs were stored with `results`.
fn acknowledged(request: &Request, results: &[backlog::InsertOutcome]) -> Acknowledged {
    Acknowledged {
        request_id: request.request_id.clone(),
        jobs: results
            .iter()
            .zip(&request.jobs)
            .map(|(r, spec)| {
                let keyed = spec.unique.is_none();
                Enqueued {
                    id: r.id,
                    duplicate: keyed && r.duplicate,
                    unique_conflict: !keyed && r.duplicate,
                }
            })
            .collect(),
        workflow_id: None,
        batch_id: None,
    }
}

/// The storage error does not say whether the commit happened, so the client must treat the
/// outcome as unknown and resend with the same request_id.
fn outcome_unknown(request: &Request, e: &EnqueueError) -> Rejected {
    tracing::warn!(error = %e, request_id = %request.request_id, "enqueue failed");
    Rejected {
        request_id: request.request_id.clone(),
        code: RejectCode::OutcomeUnknown,
        message: format!("the database failed ({e}); resend the request with the same request_id"),
        index: None,
        retry_after_ms: None,
    }
}

/// Gathered inserts in flight at once: one. Requests arriving meanwhile wait and are inserted
/// together in the next statement. Measured on PostgreSQL (docs/benchmarks.md): with 4 in
/// flight, concurrent commits queued on the WAL flush and each insert took longer than the
/// one statement that gathers them.
const STATEMENTS: usize = 1;
/// Requests stored by a statement of their own (unique jobs, workflows, batches) in flight at
/// once, beside the gathered inserts, so that a big workflow never holds up plain enqueues.
const ALONE_STATEMENTS: usize = 4;
/// Most jobs gathered into one statement.
const GATHER_JOBS: usize = 1000;

/// The enqueuer: inserts prepared requests, several to a statement when they arrive together.
///
/// One job per request means one commit per request, and under concurrency durable commits
/// queue on the database's log flush. So requests that arrive while an insert is in flight are
/// gathered into the next statement (one commit) and answered each with its own ids. A request
/// alone is inserted at once: gathering never waits for company. Requests whose idempotency
/// keys repeat one already gathered (a resend racing its original) wait for the next
/// statement; requests with `unique` jobs, workflows and batches go in statements of their
/// own, up to [`ALONE_STATEMENTS`] at once beside the gathered one.
pub(crate) async fn run(
    client: Client,
    socket: std::sync::Arc<crate::socket::SocketHandle>,
    mut rx: tokio::sync::mpsc::Receiver<Prepared>,
    internal: tokio::sync::mpsc::UnboundedSender<crate::dispatch::Internal>,
    lease: Duration,
) {
    let statements = std::sync::Arc::new(tokio::sync::Semaphore::new(STATEMENTS));
    let alone = std::sync::Arc::new(tokio::sync::Semaphore::new(ALONE_STATEMENTS));
    let mut next: Option<Prepared> = None;
    loop {
        let first = match next.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let semaphore = if first.alone() { &alone } else { &statements };
        let Ok(slot) = semaphore.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        if !batch[0].alone() {
            let mut keys: std::collections::HashSet<String> =
                batch[0].keys().map(str::to_owned).collect();
            let mut jobs = batch[0].jobs.len();
            let mut claim = batch[0].claim.clone();
            while jobs < GATHER_JOBS {
                let Ok(p) = rx.try_recv() else { break };
                if p.alone()
                    || jobs + p.jobs.len() > GATHER_JOBS
                    || p.keys().any(|k| keys.contains(k))
                {
                    next = Some(p);
                    break;
                }
                let mut p = p;
                if !p.claims_with(claim.as_ref()) {
                    // One claim per statement: this one's slots are given back, and its jobs
                    // wait for the insert's wake-up and the dispatcher's claim.
                    if let Some(other) = p.claim.take() {
                        let _ = internal.send(other.answered(Ok(Vec::new()), true));
                    }
                }
                keys.extend(p.keys().map(str::to_owned));
                jobs += p.jobs.len();
                if claim.is_none() {
                    claim.clone_from(&p.claim);
                }
                batch.push(p);
            }
        }
        let client = client.clone();
        let socket = socket.clone();
        let internal = internal.clone();
        tokio::spawn(async move {
            if matches!(batch[0].group, Group::None) {
                insert(&client, &socket, batch, &internal, lease).await;
            } else if let Some(p) = batch.pop() {
                insert_group(&client, &socket, p).await;
            }
            drop(slot);
        });
    }
}

/// Inserts gathered requests in one statement and answers each. With a claim (at most one
/// target per statement, their slots summed), the statement also claims for that worker and
/// the claimed rows go to the session loop, which sends the orders.
async fn insert(
    client: &Client,
    socket: &crate::socket::SocketHandle,
    mut batch: Vec<Prepared>,
    internal: &tokio::sync::mpsc::UnboundedSender<crate::dispatch::Internal>,
    lease: Duration,
) {
    let counts: Vec<usize> = batch.iter().map(|p| p.jobs.len()).collect();
    let jobs: Vec<backlog_storage::JobInsert> = batch
        .iter_mut()
        .flat_map(|p| std::mem::take(&mut p.jobs))
        .collect();
    let claim = batch
        .iter_mut()
        .filter_map(|p| p.claim.take())
        .reduce(|mut all, c| {
            all.asked += c.asked;
            all
        });
    let result = match claim {
        None => client.insert_prepared(jobs).await,
        Some(claim) => {
            let params = claim.params(lease);
            match client.insert_prepared_and_fetch(jobs, params).await {
                Ok((results, rows)) => {
                    let _ = internal.send(claim.answered(Ok(rows), true));
                    Ok(results)
                }
                Err(error) => {
                    // Gives the reserved slots back; the requests are answered below.
                    let failed = backlog_storage::Error::new(
                        ErrorKind::Unavailable,
                        "the insert that was to claim for this worker failed",
                    );
                    let _ = internal.send(claim.answered(Err(failed), true));
                    Err(error)
                }
            }
        }
    };
    let mut offset = 0;
    for (p, n) in batch.into_iter().zip(counts) {
        let reply = match &result {
            Ok(results) => backlog_protocol::Message::Acknowledged(acknowledged(
                &p.request,
                &results[offset..offset + n],
            )),
            Err(e) => backlog_protocol::Message::Rejected(outcome_unknown(&p.request, e)),
        };
        offset += n;
        crate::telemetry::request(matches!(reply, backlog_protocol::Message::Acknowledged(_)));
        crate::recorder::send(socket, &p.peer, &reply);
        drop(p.permit);
    }
}

/// Stores a workflow or batch request and answers it. Every step is idempotent under the
/// request id (the workflow row's key; the batch row's key, its members' keys, sealing), so a
/// request that failed half-way is completed by its resend.
async fn insert_group(client: &Client, socket: &crate::socket::SocketHandle, p: Prepared) {
    let request = &p.request;
    let reply = match store_group(client, request, p.jobs, p.group).await {
        Ok(ack) => backlog_protocol::Message::Acknowledged(ack),
        Err(rejected) => backlog_protocol::Message::Rejected(rejected),
    };
    crate::telemetry::request(matches!(reply, backlog_protocol::Message::Acknowledged(_)));
    crate::recorder::send(socket, &p.peer, &reply);
    drop(p.permit);
}

async fn store_group(
    client: &Client,
    request: &Request,
    jobs: Vec<JobInsert>,
    group: Group,
) -> Result<Acknowledged, Rejected> {
    let failed = |e: &backlog_storage::Error| group_failure(request, e);
    match group {
        Group::None => unreachable!("plain requests are inserted by `insert`"),
        Group::Workflow { .. } => {
            let params = workflow_params(request, jobs, &group);
            let result = client
                .workflow_insert_prepared(params)
                .await
                .map_err(|e| match e {
                    WorkflowError::Insert(EnqueueError::Storage(e))
                    | WorkflowError::Insert(EnqueueError::OutcomeUnknown(e)) => failed(&e),
                    other => Rejected {
                        request_id: request.request_id.clone(),
                        code: RejectCode::Invalid,
                        message: other.to_string(),
                        index: None,
                        retry_after_ms: None,
                    },
                })?;
            Ok(Acknowledged {
                request_id: request.request_id.clone(),
                jobs: result
                    .job_ids
                    .iter()
                    .map(|&id| Enqueued {
                        id,
                        duplicate: result.duplicate,
                        unique_conflict: false,
                    })
                    .collect(),
                workflow_id: Some(result.id),
                batch_id: None,
            })
        }
        Group::Batch { open, id, seal } => {
            let batch = match (open, id) {
                (Some(params), _) => {
                    client
                        .batch_create_with(params)
                        .await
                        .map_err(|e| match e {
                            backlog::Error::Storage(e) => failed(&e),
                            other => outcome_unknown_error(request, &other.to_string()),
                        })?
                }
                (None, Some(id)) => id,
                (None, None) => unreachable!("checked by batch_group"),
            };
            let results = if jobs.is_empty() {
                Vec::new()
            } else {
                client
                    .batch_add_prepared(batch, jobs)
                    .await
                    .map_err(|e| match e {
                        EnqueueError::Storage(e) | EnqueueError::OutcomeUnknown(e) => failed(&e),
                        other => outcome_unknown_error(request, &other.to_string()),
                    })?
            };
            if seal {
                client.batch_seal(batch).await.map_err(|e| match e {
                    backlog::Error::Storage(e) => failed(&e),
                    other => outcome_unknown_error(request, &other.to_string()),
                })?;
            }
            Ok(Acknowledged {
                request_id: request.request_id.clone(),
                jobs: results
                    .iter()
                    .map(|r| Enqueued {
                        id: r.id,
                        duplicate: r.duplicate,
                        unique_conflict: false,
                    })
                    .collect(),
                workflow_id: None,
                batch_id: Some(batch),
            })
        }
    }
}

/// A workflow or batch step the database refused (`invalid`: a sealed or missing batch, a
/// key in use by a different request) or that may or may not have committed.
fn group_failure(request: &Request, e: &backlog_storage::Error) -> Rejected {
    match e.kind() {
        ErrorKind::InvalidInput => Rejected {
            request_id: request.request_id.clone(),
            code: RejectCode::Invalid,
            message: e.to_string(),
            index: None,
            retry_after_ms: None,
        },
        _ => outcome_unknown_error(request, &e.to_string()),
    }
}

fn outcome_unknown_error(request: &Request, error: &str) -> Rejected {
    tracing::warn!(%error, request_id = %request.request_id, "workflow or batch request failed");
    Rejected {
        request_id: request.request_id.clone(),
        code: RejectCode::OutcomeUnknown,
        message: format!(
            "the database failed ({error}); resend the request with the same request_id"
        ),
        index: None,
        retry_after_ms: None,
    }
}

/// The idempotency key of job `index` of a request of `len` jobs (docs/protocol.md).
pub(crate) fn idempotency_key(request_id: &str, index: usize, len: usize) -> String {
    if len == 1 {
        request_id.to_owned()
    } else {
        format!("{request_id}/{index}")
    }
}

/// The library's options for one job spec; `Err` says which option is wrong.
pub(crate) fn insert_opts(spec: &JobSpec) -> Result<InsertOpts, String> {
    let mut opts = InsertOpts::new();
    if let Some(queue) = &spec.queue {
        opts = opts.queue(queue.clone());
    }
    if let Some(priority) = spec.priority {
        opts = opts.priority(priority);
    }
    match (spec.run_at_ms, spec.run_after_ms) {
        (Some(_), Some(_)) => {
            return Err("run_at_ms and run_after_ms exclude each other; send one".into())
        }
        (Some(ms), None) => {
            let at = chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("run_at_ms {ms} is not a representable time"))?;
            opts = opts.run_at(at);
        }
        (None, Some(ms)) => opts = opts.run_after(Duration::from_millis(ms)),
        (None, None) => {}
    }
    if let Some(attempts) = spec.max_attempts {
        opts = opts.max_attempts(attempts);
    }
    if let Some(ms) = spec.timeout_ms {
        opts = opts.timeout(Duration::from_millis(ms));
    }
    if let Some(backoff) = &spec.backoff {
        opts = opts.backoff(backoff_of(backoff)?);
    }
    if let Some(key) = &spec.partition_key {
        opts = opts.partition_key(key.clone());
    }
    if let Some(ms) = spec.expires_at_ms {
        let at = chrono::DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| format!("expires_at_ms {ms} is not a representable time"))?;
        opts = opts.expires_at(at);
    }
    if let Some(unique) = &spec.unique {
        let mut u = UniqueOpts::default();
        match &unique.by_args {
            None | Some(WireUniqueArgs::Named(UniqueArgsName::All)) => {}
            Some(WireUniqueArgs::Named(UniqueArgsName::Ignore)) => u.by_args = UniqueArgs::Ignore,
            Some(WireUniqueArgs::Fields(fields)) => u.by_args = UniqueArgs::Fields(fields.clone()),
        }
        if let Some(by_queue) = unique.by_queue {
            u.by_queue = by_queue;
        }
        u.period = unique.period_ms.map(Duration::from_millis);
        if let Some(states) = &unique.states {
            u.states = states.clone();
        }
        if let Some(on_conflict) = unique.on_conflict {
            u.on_conflict = match on_conflict {
                WireOnConflict::Replace => backlog::OnConflict::Replace,
                _ => backlog::OnConflict::Skip,
            };
        }
        opts = opts.unique(u);
    }
    for tag in &spec.tags {
        opts = opts.tag(tag.clone());
    }
    // jobq's `username` and asset `uuid` are kept queryable in the metadata.
    let mut metadata = match &spec.metadata {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map.clone(),
        Some(other) => return Err(format!("metadata must be a JSON object, got {other}")),
    };
    if let Some(username) = &spec.username {
        metadata.insert("username".into(), username.clone().into());
    }
    if let Some(uuid) = &spec.uuid {
        metadata.insert("uuid".into(), uuid.to_string().into());
    }
    if spec.metadata.is_some() || !metadata.is_empty() {
        opts = opts.metadata(serde_json::Value::Object(metadata));
    }
    if let Some(fingerprint) = &spec.fingerprint {
        opts = opts.fingerprint(fingerprint.clone());
    }
    Ok(opts)
}

fn backoff_of(wire: &WireBackoff) -> Result<backlog::Backoff, String> {
    Ok(match wire {
        WireBackoff::Exponential {
            base_ms,
            max_ms,
            jitter_permille,
        } => {
            if *jitter_permille > 1000 {
                return Err(format!(
                    "backoff jitter_permille must be 0 to 1000, got {jitter_permille}"
                ));
            }
            backlog::Backoff::Exponential {
                base: Duration::from_millis(*base_ms),
                max: Duration::from_millis(*max_ms),
                jitter: f64::from(*jitter_permille) / 1000.0,
            }
        }
        WireBackoff::Linear { step_ms, max_ms } => backlog::Backoff::Linear {
            step: Duration::from_millis(*step_ms),
            max: Duration::from_millis(*max_ms),
        },
        WireBackoff::Fixed { delay_ms } => {
            backlog::Backoff::Fixed(Duration::from_millis(*delay_ms))
        }
        other => return Err(format!("backoff {other:?} is not supported by this server")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec::new("k", serde_json::json!({}))
    }

    #[test]
    fn contradictory_or_out_of_range_options_say_what_is_wrong() {
        let mut both = spec();
        both.run_at_ms = Some(0);
        both.run_after_ms = Some(1);
        assert!(insert_opts(&both)
            .unwrap_err()
            .contains("exclude each other"));

        let mut jitter = spec();
        jitter.backoff = Some(WireBackoff::Exponential {
            base_ms: 1,
            max_ms: 2,
            jitter_permille: 1001,
        });
        assert!(insert_opts(&jitter)
            .unwrap_err()
            .contains("jitter_permille"));

        let mut metadata = spec();
        metadata.metadata = Some(serde_json::json!([1]));
        assert!(insert_opts(&metadata).unwrap_err().contains("JSON object"));

        let mut far = spec();
        far.run_at_ms = Some(i64::MAX);
        assert!(insert_opts(&far).unwrap_err().contains("representable"));

        let mut never = spec();
        never.expires_at_ms = Some(i64::MIN);
        assert!(insert_opts(&never).unwrap_err().contains("expires_at_ms"));
    }

    #[test]
    fn expiry_and_timeout_become_the_jobs_own() {
        let mut s = spec();
        s.expires_at_ms = Some(1_800_000_000_000);
        s.timeout_ms = Some(2_500);
        let at = chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        assert_eq!(
            insert_opts(&s).unwrap(),
            InsertOpts::new()
                .timeout(Duration::from_millis(2_500))
                .expires_at(at)
        );
    }

    #[test]
    fn username_and_uuid_land_in_the_metadata() {
        let mut s = spec();
        s.username = Some("alice".into());
        let opts = insert_opts(&s).unwrap();
        let expected = InsertOpts::new().metadata(serde_json::json!({"username": "alice"}));
        assert_eq!(opts, expected);
        assert_eq!(insert_opts(&spec()).unwrap(), InsertOpts::new());
    }
}
