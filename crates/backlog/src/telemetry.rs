//! Metrics through the [`metrics`] facade: Backlog records, the application installs an
//! exporter (Prometheus, StatsD, ...) or nothing, in which case recording costs next to
//! nothing. Names and labels are listed in `docs/metrics.md`; keep the two in sync.

use std::collections::HashMap;
use std::time::Duration;

use backlog_storage::{JobInsert, StateCount};
use backlog_types::{JobRow, JobState};

/// Jobs inserted, by queue and kind.
pub const JOBS_ENQUEUED: &str = "backlog_jobs_enqueued_total";
/// Jobs claimed by a runner (attempts started), by queue and kind.
pub const JOBS_STARTED: &str = "backlog_jobs_started_total";
/// Attempts that completed the job.
pub const JOBS_COMPLETED: &str = "backlog_jobs_completed_total";
/// Attempts that failed and will be retried.
pub const JOBS_FAILED: &str = "backlog_jobs_failed_total";
/// Attempts that discarded the job (failed for good).
pub const JOBS_DISCARDED: &str = "backlog_jobs_discarded_total";
/// Attempts that cancelled the job.
pub const JOBS_CANCELLED: &str = "backlog_jobs_cancelled_total";
/// Attempts snoozed (including rate-limited and kind-busy jobs handed back).
pub const JOBS_SNOOZED: &str = "backlog_jobs_snoozed_total";
/// Jobs rescued after their lease expired (no labels: the rescue returns ids only).
pub const JOBS_RESCUED: &str = "backlog_jobs_rescued_total";
/// Seconds from `scheduled_at` to the start of the attempt, by queue and kind.
pub const START_LATENCY: &str = "backlog_job_start_latency_seconds";
/// Seconds each attempt ran, by queue and kind.
pub const ATTEMPT_DURATION: &str = "backlog_job_attempt_duration_seconds";
/// Jobs per queue in each unfinished state (available, scheduled, running, retryable),
/// refreshed periodically.
pub const QUEUE_DEPTH: &str = "backlog_queue_depth";

/// Jobs about to be inserted, per (queue, kind): taken before the insert consumes them and
/// recorded with [`enqueued`] once it succeeded.
pub(crate) fn enqueue_counts(jobs: &[JobInsert]) -> HashMap<(String, String), u64> {
    // Counted under borrowed keys, so that a big batch allocates nothing per job; the keys
    // are owned once per distinct (queue, kind).
    let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
    for job in jobs {
        *counts.entry((&job.queue, &job.kind)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((queue, kind), n)| ((queue.to_owned(), kind.to_owned()), n))
        .collect()
}

/// Records inserted jobs counted by [`enqueue_counts`].
pub(crate) fn enqueued(counts: HashMap<(String, String), u64>) {
    for ((queue, kind), n) in counts {
        metrics::counter!(JOBS_ENQUEUED, "queue" => queue, "kind" => kind).increment(n);
    }
}

/// A claimed job: started counter and enqueue-to-start latency (the runner records its own
/// claims; the server calls this for the jobs it claims for remote workers).
pub fn started(row: &JobRow) {
    let labels = [("queue", row.queue.clone()), ("kind", row.kind.clone())];
    metrics::counter!(JOBS_STARTED, &labels).increment(1);
    if let Some(started) = row.attempted_at {
        let latency = (started - row.scheduled_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        metrics::histogram!(START_LATENCY, &labels).record(latency.as_secs_f64());
    }
}

/// A recorded outcome (`state` is the job's new state).
pub(crate) fn finished(queue: &str, kind: &str, state: JobState, duration: Duration) {
    let name = match state {
        JobState::Completed => JOBS_COMPLETED,
        JobState::Retryable => JOBS_FAILED,
        JobState::Discarded => JOBS_DISCARDED,
        JobState::Cancelled => JOBS_CANCELLED,
        JobState::Scheduled => JOBS_SNOOZED,
        JobState::Available | JobState::Running => return,
    };
    let labels = [("queue", queue.to_owned()), ("kind", kind.to_owned())];
    metrics::counter!(name, &labels).increment(1);
    metrics::histogram!(ATTEMPT_DURATION, &labels).record(duration.as_secs_f64());
}

/// Jobs rescued by one pass of the rescuer.
pub(crate) fn rescued(n: usize) {
    metrics::counter!(JOBS_RESCUED).increment(n as u64);
}

/// Sets the depth gauges from fresh counts; `previous` holds the series set last time, so that
/// a queue and state with no jobs left drops to zero instead of keeping its last value.
pub(crate) fn queue_depth(counts: &[StateCount], previous: &mut Vec<(String, JobState)>) {
    let mut seen = Vec::with_capacity(counts.len());
    for count in counts {
        metrics::gauge!(QUEUE_DEPTH, "queue" => count.queue.clone(), "state" => count.state.as_str())
            .set(count.count as f64);
        seen.push((count.queue.clone(), count.state));
    }
    for (queue, state) in previous.drain(..) {
        if !seen.contains(&(queue.clone(), state)) {
            metrics::gauge!(QUEUE_DEPTH, "queue" => queue, "state" => state.as_str()).set(0.0);
        }
    }
    *previous = seen;
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn enqueued_is_counted_per_queue_and_kind() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let jobs = vec![
            JobInsert::new("emails", "send", serde_json::json!({})),
            JobInsert::new("emails", "send", serde_json::json!({})),
            JobInsert::new("media", "resize", serde_json::json!({})),
        ];
        metrics::with_local_recorder(&recorder, || enqueued(enqueue_counts(&jobs)));
        let mut seen: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == JOBS_ENQUEUED)
            .map(|(key, _, _, value)| {
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let DebugValue::Counter(n) = value else {
                    panic!("not a counter")
                };
                (labels.join(","), n)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("queue=emails,kind=send".to_owned(), 2),
                ("queue=media,kind=resize".to_owned(), 1)
            ]
        );
    }
}
