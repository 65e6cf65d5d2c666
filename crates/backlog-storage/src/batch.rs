//! Batches: jobs grouped over time, with a callback job enqueued exactly once when every member
//! has finished.
//!
//! A batch is created open; jobs (and child batches) are added to it; [`Storage::batch_seal`]
//! says no more will come. Once it is sealed and every member is finalized, the transaction
//! that finalized the last member (or sealed it) marks the batch finished and enqueues the
//! callback. Members are counted under the batch's row lock, and finishing is a
//! compare-and-set on `finished_at IS NULL`, so two last members finishing at once in two
//! connections enqueue one callback. A finished child batch counts as one member of its parent:
//! succeeded if all of its members succeeded, failed otherwise.
//!
//! [`Storage::batch_seal`]: crate::Storage::batch_seal

use chrono::{DateTime, Utc};

/// A batch's id.
pub type BatchId = i64;

/// When a batch's callback is enqueued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallbackOn {
    /// Only if every member succeeded (completed jobs, succeeded child batches).
    Success,
    /// Whatever the outcome, once every member is finalized. The default.
    #[default]
    Complete,
}

impl CallbackOn {
    /// The value stored in `backlog_batch.callback_on`.
    pub fn code(self) -> i16 {
        match self {
            CallbackOn::Success => 0,
            CallbackOn::Complete => 1,
        }
    }

    /// The policy of a stored code.
    pub fn from_code(code: i16) -> CallbackOn {
        match code {
            0 => CallbackOn::Success,
            _ => CallbackOn::Complete,
        }
    }
}

/// The job enqueued when a batch finishes. Its args must be a JSON object; the batch's
/// [`BatchCounts`] are set in it under the key `"batch"` (replacing any value there, so an args
/// type can declare a `batch: BatchCounts` field with a default).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCallback {
    /// Queue of the callback job.
    pub queue: String,
    /// Kind of the callback job.
    pub kind: String,
    /// Args (a JSON object).
    pub args: serde_json::Value,
    /// Priority of the callback job.
    pub priority: i16,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it is enqueued.
    pub on: CallbackOn,
}

/// The counts a callback job carries under `args.batch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchCounts {
    /// The batch.
    pub id: BatchId,
    /// Members: jobs and child batches.
    pub total: u64,
    /// Completed jobs and child batches whose members all succeeded.
    pub succeeded: u64,
    /// Discarded jobs and child batches with a failed or cancelled member.
    pub failed: u64,
    /// Cancelled jobs.
    pub cancelled: u64,
}

/// Parameters of [`Storage::batch_create`](crate::Storage::batch_create).
#[derive(Debug, Clone, Default)]
pub struct BatchCreateParams {
    /// Make it a member of this (open) batch.
    pub parent: Option<BatchId>,
    /// Free text for people.
    pub description: String,
    /// The job to enqueue when it finishes (`None`: none; the batch is still tracked).
    pub callback: Option<BatchCallback>,
    /// The producer's key for this creation (1 to 255 bytes, validated like a job's
    /// idempotency key): if a batch was already created with it, nothing is created and that
    /// batch's id is returned. Kept as long as the batch row.
    pub idempotency_key: Option<String>,
}

/// A batch as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    /// Its counts (`id` is the batch's id).
    pub counts: BatchCounts,
    /// The batch it is a member of.
    pub parent: Option<BatchId>,
    /// Its description.
    pub description: String,
    /// The callback's kind, if any.
    pub callback_kind: Option<String>,
    /// When the callback fires.
    pub callback_on: CallbackOn,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was sealed (no members can be added after).
    pub sealed_at: Option<DateTime<Utc>>,
    /// When its last member finished (it was sealed by then).
    pub finished_at: Option<DateTime<Utc>>,
    /// The callback job, once enqueued.
    pub callback_job_id: Option<i64>,
}

/// Parameters of [`Storage::batch_add`](crate::Storage::batch_add).
#[derive(Debug, Clone, Default)]
pub struct BatchAddParams {
    /// The batch (open).
    pub batch: BatchId,
    /// The jobs. No uniqueness keys; idempotency keys are allowed, and a job whose key was
    /// already used is not inserted or counted again (its result says `duplicate`).
    pub jobs: Vec<crate::JobInsert>,
}

/// Parameters of [`Storage::batch_list`](crate::Storage::batch_list).
#[derive(Debug, Clone)]
pub struct BatchListParams {
    /// Only batches with an id below this one (newest first).
    pub before_id: Option<BatchId>,
    /// At most this many.
    pub limit: u32,
}

impl Default for BatchListParams {
    fn default() -> Self {
        BatchListParams {
            before_id: None,
            limit: 100,
        }
    }
}

/// The callback job's args: the user's args with the counts added under `"batch"`. `None` when
/// the args are not a JSON object.
pub fn callback_args(args: &serde_json::Value, counts: &BatchCounts) -> Option<serde_json::Value> {
    let mut object = args.as_object()?.clone();
    object.insert("batch".to_owned(), serde_json::to_value(counts).ok()?);
    Some(serde_json::Value::Object(object))
}

/// Whether a finished batch's callback is due under `on`.
pub fn callback_due(on: CallbackOn, counts: &BatchCounts) -> bool {
    match on {
        CallbackOn::Complete => true,
        CallbackOn::Success => counts.failed == 0 && counts.cancelled == 0,
    }
}

/// Refuses member jobs with uniqueness keys, as [`crate::WorkflowInvalid::Keyed`] does for
/// workflows (a member that silently became another live job would be counted twice). Members
/// may carry idempotency keys (a resent request adds nothing twice).
pub fn check_batch_jobs(jobs: &[crate::JobInsert]) -> Result<(), crate::Error> {
    match jobs.iter().position(|j| j.unique.is_some()) {
        Some(i) => Err(crate::Error::new(
            crate::ErrorKind::InvalidInput,
            format!("job #{i} added to a batch has a uniqueness key; batch members cannot be unique (use an idempotency key to make adding them safe to repeat)"),
        )),
        None => crate::check_idempotency(jobs),
    }
}

/// Refuses a callback whose args are not a JSON object. A `"batch"` key in them is replaced by
/// the counts when the callback is enqueued.
pub fn check_callback(callback: &BatchCallback) -> Result<(), crate::Error> {
    if callback.args.is_object() {
        Ok(())
    } else {
        Err(crate::Error::new(
            crate::ErrorKind::InvalidInput,
            "a batch callback's args must be a JSON object (the batch's counts are added under \"batch\")",
        ))
    }
}

/// The error of adding members to (or creating a child of) a batch that does not exist or is
/// sealed, the same on every backend.
pub fn batch_not_open(id: BatchId) -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::InvalidInput,
        format!("batch {id} does not exist or is sealed: members can only be added to an open batch (create a new batch)"),
    )
}

/// The error of sealing a batch that does not exist, the same on every backend.
pub fn batch_missing(id: BatchId) -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::InvalidInput,
        format!("batch {id} does not exist (check the id with `backlog batches list`)"),
    )
}
