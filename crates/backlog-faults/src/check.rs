//! The checker: from the jobs' final rows, the acknowledged enqueues and the ledger, counts what
//! the durability promise forbids (lost jobs, lost acknowledged enqueues, duplicate executions
//! not explained by a fault).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use backlog::{JobId, JobRow, JobState};

use crate::ledger::{Entry, Phase};

/// One execution of a job: a (job, lease token) pair seen in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The job.
    pub job: JobId,
    /// The claim's lease token (hex).
    pub token: String,
    /// The worker process.
    pub pid: u32,
    /// When the job's code was entered (µs since the epoch).
    pub start_us: i64,
    /// When it returned, if it did.
    pub end_us: Option<i64>,
}

/// How long before a database outage a claim may still be lost with it (µs). Claims commit
/// asynchronously (a claim is a lease, not data: `job_fetch_available.sql`), and PostgreSQL
/// flushes an asynchronous commit within three `wal_writer_delay`s (600 ms by default), or
/// sooner with the next durable commit. So a crash can take back the claim of an execution that
/// started shortly before it, even one whose code already returned (its outcome still on its
/// way to the database): the job is available again after the restart and runs once more,
/// while the first outcome is refused. One second covers the flush delay with room.
pub const CLAIM_FLUSH_US: i64 = 1_000_000;

/// What was done to the system during a run, to explain duplicate executions.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Worker processes killed or frozen: their executions may be cut and run again.
    pub faulted_pids: BTreeSet<u32>,
    /// Database outages (start, end in µs since the epoch): an execution overlapping one, or
    /// ending less than [`CLAIM_FLUSH_US`] before it, may lose its claim (claims are not
    /// flushed at once) or its outcome's reply.
    pub outages: Vec<(i64, i64)>,
}

/// The verdict of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Jobs in the database.
    pub jobs: usize,
    /// Jobs not `completed` at the end.
    pub lost: usize,
    /// Acknowledged enqueue ids with no job.
    pub acked_lost: usize,
    /// Acknowledged enqueues.
    pub acked: usize,
    /// Executions recorded in the ledger.
    pub executions: usize,
    /// Executions beyond the first per job.
    pub duplicates: usize,
    /// Duplicates whose cut execution neither was in a faulted process nor overlapped an outage.
    pub unexplained_duplicates: usize,
    /// A line per violation found.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the run kept the promise.
    pub fn is_ok(&self) -> bool {
        self.lost == 0
            && self.acked_lost == 0
            && self.unexplained_duplicates == 0
            && self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "jobs={} lost={} acked={} acked_lost={} executions={} duplicates={} unexplained={}",
            self.jobs,
            self.lost,
            self.acked,
            self.acked_lost,
            self.executions,
            self.duplicates,
            self.unexplained_duplicates
        )
    }
}

/// Pairs start and end lines into executions.
pub fn executions(entries: &[Entry]) -> Vec<Execution> {
    let mut by_claim: BTreeMap<(JobId, String), Execution> = BTreeMap::new();
    for entry in entries {
        let key = (entry.job, entry.token.clone());
        let exec = by_claim.entry(key).or_insert_with(|| Execution {
            job: entry.job,
            token: entry.token.clone(),
            pid: entry.pid,
            start_us: entry.at_us,
            end_us: None,
        });
        match entry.phase {
            Phase::Start => exec.start_us = entry.at_us,
            Phase::End => exec.end_us = Some(entry.at_us),
        }
    }
    by_claim.into_values().collect()
}

/// Checks a run: every job completed by exactly one recorded execution (the one whose lease
/// token the finished row keeps), every acknowledged id present, and every other execution of a
/// job explained by a fault.
pub fn check(rows: &[JobRow], acked: &[JobId], entries: &[Entry], faults: &Faults) -> Report {
    let execs = executions(entries);
    let mut report = Report {
        jobs: rows.len(),
        acked: acked.len(),
        executions: execs.len(),
        ..Report::default()
    };
    let ids: BTreeSet<JobId> = rows.iter().map(|r| r.id).collect();
    report.acked_lost = acked.iter().filter(|id| !ids.contains(id)).count();
    let mut by_job: HashMap<JobId, Vec<&Execution>> = HashMap::new();
    for exec in &execs {
        by_job.entry(exec.job).or_default().push(exec);
    }
    for row in rows {
        if row.state != JobState::Completed {
            report.lost += 1;
            report.problems.push(format!(
                "job {} ended {:?}, not completed",
                row.id, row.state
            ));
            continue;
        }
        let runs = by_job.remove(&row.id).unwrap_or_default();
        let Some(token) = row.lease_token.map(|t| t.to_string()) else {
            report
                .problems
                .push(format!("job {} completed without a lease token", row.id));
            continue;
        };
        match runs.iter().find(|e| e.token == token) {
            Some(accepted) if accepted.end_us.is_some() => {}
            Some(_) => report.problems.push(format!(
                "job {}: the execution whose outcome was accepted never returned",
                row.id
            )),
            None => report.problems.push(format!(
                "job {}: completed by lease {token}, which no recorded execution holds",
                row.id
            )),
        }
        for cut in runs.iter().filter(|e| e.token != token) {
            report.duplicates += 1;
            let killed = faults.faulted_pids.contains(&cut.pid);
            let end = cut.end_us.unwrap_or(i64::MAX);
            let in_outage = faults
                .outages
                .iter()
                .any(|&(from, to)| cut.start_us <= to && end >= from - CLAIM_FLUSH_US);
            if !killed && !in_outage {
                report.unexplained_duplicates += 1;
                report.problems.push(format!(
                    "job {}: lease {} in pid {} ran it too, with no fault to explain it \
                     (ran {} to {:?} µs since the epoch; outages {:?})",
                    row.id, cut.token, cut.pid, cut.start_us, cut.end_us, faults.outages
                ));
            }
        }
    }
    for (job, _) in by_job {
        report
            .problems
            .push(format!("job {job} ran but is not in the database"));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: JobId, state: &str, token: &str) -> JobRow {
        serde_json::from_value(serde_json::json!({
            "id": id, "state": state, "queue": "default", "kind": "fault_work",
            "args": {"ms": 1}, "priority": 0, "attempt": 1, "max_attempts": 25,
            "scheduled_at": "2026-01-01T00:00:00Z", "created_at": "2026-01-01T00:00:00Z",
            "attempted_by": [], "errors": [], "attempt_durations_us": [], "tags": [],
            "metadata": {}, "lease_token": token,
        }))
        .expect("a job row")
    }

    fn line(phase: Phase, job: JobId, token: &str, pid: u32, at_us: i64) -> Entry {
        Entry {
            phase,
            job,
            token: token.to_owned(),
            pid,
            at_us,
        }
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn a_clean_run_passes() {
        let rows = [row(1, "completed", A)];
        let ledger = [
            line(Phase::Start, 1, A, 10, 1),
            line(Phase::End, 1, A, 10, 2),
        ];
        let report = check(&rows, &[1], &ledger, &Faults::default());
        assert!(report.is_ok(), "{report:?}");
        assert_eq!((report.executions, report.duplicates), (1, 0));
    }

    #[test]
    fn a_rerun_is_allowed_only_after_a_fault() {
        let rows = [row(1, "completed", B)];
        let ledger = [
            line(Phase::Start, 1, A, 10, 1),
            line(Phase::Start, 1, B, 11, 5),
            line(Phase::End, 1, B, 11, 6),
        ];
        let unexplained = check(&rows, &[1], &ledger, &Faults::default());
        assert_eq!(unexplained.unexplained_duplicates, 1);
        assert!(!unexplained.is_ok());
        let killed = Faults {
            faulted_pids: [10].into(),
            outages: Vec::new(),
        };
        assert!(check(&rows, &[1], &ledger, &killed).is_ok());
        let outage = Faults {
            faulted_pids: BTreeSet::new(),
            outages: vec![(2, 3)],
        };
        assert!(check(&rows, &[1], &ledger, &outage).is_ok());
    }

    /// An execution that returned just before a crash may have lost its claim with it (the
    /// claim not yet flushed): explained. One that returned seconds before had its claim on
    /// disk: not.
    #[test]
    fn a_claim_made_just_before_an_outage_may_be_lost_with_it() {
        let rows = [row(1, "completed", B)];
        let ledger = |a_end: i64| {
            [
                line(Phase::Start, 1, A, 10, a_end - 1_000),
                line(Phase::End, 1, A, 10, a_end),
                line(Phase::Start, 1, B, 11, 20_000_000),
                line(Phase::End, 1, B, 11, 20_001_000),
            ]
        };
        let outage = Faults {
            faulted_pids: BTreeSet::new(),
            outages: vec![(10_000_000, 12_000_000)],
        };
        let just_before = check(&rows, &[1], &ledger(9_800_000), &outage);
        assert!(just_before.is_ok(), "{just_before:?}");
        let long_before = check(&rows, &[1], &ledger(7_000_000), &outage);
        assert_eq!(long_before.unexplained_duplicates, 1);
    }

    #[test]
    fn lost_jobs_and_lost_acknowledgements_are_counted() {
        let rows = [row(1, "available", A)];
        let report = check(&rows, &[1, 2], &[], &Faults::default());
        assert_eq!((report.lost, report.acked_lost), (1, 1));
        assert!(!report.is_ok());
    }

    #[test]
    fn an_outcome_from_no_recorded_execution_is_a_problem() {
        let rows = [row(1, "completed", B)];
        let ledger = [
            line(Phase::Start, 1, A, 10, 1),
            line(Phase::End, 1, A, 10, 2),
        ];
        let report = check(&rows, &[1], &ledger, &Faults::default());
        assert!(!report.is_ok());
    }
}
