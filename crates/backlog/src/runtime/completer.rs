//! The completer: writes attempt outcomes in batches, so finishing a job does not cost a round
//! trip of its own.
//!
//! It takes whatever has queued up while the previous write was in flight (up to
//! `complete_batch`), so batches grow with load and latency stays low when idle.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use backlog_storage::{JobFinish, JobFinishManyParams, JobOutcome};
use backlog_types::{JobId, JobState};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{JobEvent, Shared};
use crate::telemetry;

/// One attempt's outcome, with what the event needs.
pub(crate) struct Completion {
    pub(crate) finish: JobFinish,
    /// The attempt number, for the event and logs.
    pub(crate) attempt: i32,
    pub(crate) kind: String,
    pub(crate) queue: String,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Completion>,
    stop: CancellationToken,
) {
    let max = shared.config.complete_batch.max(1);
    let mut batch = Vec::with_capacity(max);
    loop {
        let first = tokio::select! {
            biased;
            c = rx.recv() => c,
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        flush(&shared, &mut batch, &stop).await;
    }
}

/// Writes one batch, retrying while the database is unreachable. Once the runner is stopping,
/// gives up after a few tries: the jobs stay `running` and are rescued when their leases expire.
async fn flush(shared: &Shared, batch: &mut Vec<Completion>, stop: &CancellationToken) {
    let params = JobFinishManyParams {
        jobs: batch.iter().map(|c| c.finish.clone()).collect(),
    };
    let mut delay = Duration::from_millis(50);
    let mut tries_after_stop = 0;
    let applied: HashSet<JobId> = loop {
        match shared.storage.job_finish_many(params.clone()).await {
            Ok(ids) => break ids.into_iter().collect(),
            Err(error) => {
                if stop.is_cancelled() {
                    tries_after_stop += 1;
                    if tries_after_stop > 3 {
                        tracing::error!(%error, jobs = batch.len(), "could not record outcomes at shutdown; the jobs will be rescued when their leases expire");
                        if let Ok(mut report) = shared.stopping.lock() {
                            report.unrecorded.extend(batch.iter().map(|c| c.finish.id));
                        }
                        release(shared, batch.drain(..).map(|c| c.finish.id));
                        return;
                    }
                }
                shared.storage_failed();
                tracing::warn!(%error, jobs = batch.len(), retry_in = ?delay, "could not record job outcomes; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let mut hint_scheduler = false;
    for c in batch.iter() {
        let state = applied
            .contains(&c.finish.id)
            .then(|| JobOutcome::state(&c.finish.outcome));
        if state.is_none() {
            tracing::warn!(job.id = c.finish.id, attempt = c.attempt, lease_token = %c.finish.lease_token, "outcome rejected: the job is no longer held by this worker (lease expired and rescued, or cancelled)");
        }
        if matches!(state, Some(JobState::Retryable | JobState::Scheduled)) {
            hint_scheduler = true;
        }
        shared.stats.record(state);
        if state.is_some() && shared.shutdown.is_cancelled() {
            note_stopping(shared, &c.finish);
        }
        if let Some(state) = state {
            telemetry::finished(&c.queue, &c.kind, state, c.finish.duration);
        }
        if shared.events.receiver_count() > 0 {
            let _ = shared.events.send(JobEvent {
                id: c.finish.id,
                kind: c.kind.clone(),
                queue: c.queue.clone(),
                attempt: c.attempt,
                state,
                error: failure_message(&c.finish.outcome),
                duration: c.finish.duration,
            });
        }
    }
    if hint_scheduler {
        shared.scheduler_hint.notify_one();
    }
    release(shared, batch.drain(..).map(|c| c.finish.id));
}

/// Files an outcome recorded after shutdown began: an interruption or a hand-back.
fn note_stopping(shared: &Shared, finish: &backlog_storage::JobFinish) {
    let Ok(mut report) = shared.stopping.lock() else {
        return;
    };
    match &finish.outcome {
        JobOutcome::Retry { failure, .. }
            if failure.kind.as_deref() == Some(crate::policy::error_kind::INTERRUPTED) =>
        {
            report.interrupted.push(finish.id)
        }
        JobOutcome::Snooze { delay } if delay.is_zero() => report.handed_back.push(finish.id),
        _ => {}
    }
}

fn release(shared: &Shared, ids: impl Iterator<Item = JobId>) {
    if let Ok(mut held) = shared.held.lock() {
        for id in ids {
            held.remove(&id);
        }
    }
}

fn failure_message(outcome: &JobOutcome) -> Option<String> {
    match outcome {
        JobOutcome::Retry { failure, .. }
        | JobOutcome::Discard { failure }
        | JobOutcome::Cancel { failure } => Some(failure.message.clone()),
        JobOutcome::Completed | JobOutcome::Snooze { .. } => None,
    }
}
