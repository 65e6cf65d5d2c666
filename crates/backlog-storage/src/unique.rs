//! Unique jobs: the key a job is inserted with, what happens on a duplicate, and the in-batch
//! deduplication both backends share.

use std::collections::HashMap;

use backlog_types::JobId;

use crate::JobInsert;

/// What an insert does when a live job already holds its unique key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Insert nothing; report the existing job's id.
    #[default]
    Skip,
    /// Debounce: if the existing job has not started (`available`, `scheduled`, `retryable`),
    /// move its run time and args to the new job's; otherwise behave as [`OnConflict::Skip`].
    Replace,
}

/// The uniqueness of one job to insert, computed by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueInsert {
    /// The key (a hash of kind, args, queue and period, as the client chose). Two jobs with
    /// the same key cannot both be in states of their `states` mask.
    pub key: Vec<u8>,
    /// Bitmask of the states in which the job holds its key ([`backlog_types::JobState::mask`]).
    pub states: i16,
    /// What to do with a duplicate.
    pub on_conflict: OnConflict,
}

/// What became of one job of [`Storage::job_insert_many`](crate::Storage::job_insert_many).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobInsertResult {
    /// The new job's id, or the existing job's for a duplicate.
    pub id: JobId,
    /// Whether a live job already held the job's unique key (nothing new was inserted).
    pub duplicate: bool,
}

/// A batch with in-batch duplicates folded away, so that the database never sees one key twice
/// in one statement (PostgreSQL refuses to update a row twice in one `ON CONFLICT`).
#[derive(Debug)]
pub struct DedupedBatch {
    /// The jobs to send, one per unique key (jobs without a key are all kept). Backends take
    /// them out (`std::mem::take`); [`DedupedBatch::results`] only needs the map.
    pub jobs: Vec<JobInsert>,
    /// For each input job: the index in `jobs` of the job it became, and whether it was folded
    /// into an earlier job of the batch.
    pub map: Vec<(usize, bool)>,
}

impl DedupedBatch {
    /// Folds jobs that share a unique key or an idempotency key into the first of them. With
    /// [`OnConflict::Replace`] the later job's args and run time win (as they would have if
    /// inserted one after the other); with [`OnConflict::Skip`] the first job is kept as is.
    /// A repeated idempotency key always keeps the first job.
    pub fn new(jobs: Vec<JobInsert>) -> DedupedBatch {
        // Most batches have no keys: nothing to fold, and nothing to move.
        if jobs
            .iter()
            .all(|job| job.unique.is_none() && job.idempotency.is_none())
        {
            let map = (0..jobs.len()).map(|index| (index, false)).collect();
            return DedupedBatch { jobs, map };
        }
        let mut kept: Vec<JobInsert> = Vec::with_capacity(jobs.len());
        let mut map = Vec::with_capacity(jobs.len());
        let mut by_key: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut by_idempotency: HashMap<String, usize> = HashMap::new();
        for job in jobs {
            if let Some(idempotency) = &job.idempotency {
                if let Some(&index) = by_idempotency.get(&idempotency.key) {
                    map.push((index, true));
                    continue;
                }
                by_idempotency.insert(idempotency.key.clone(), kept.len());
            }
            let Some(unique) = &job.unique else {
                map.push((kept.len(), false));
                kept.push(job);
                continue;
            };
            match by_key.get(&unique.key) {
                Some(&index) => {
                    if unique.on_conflict == OnConflict::Replace {
                        let first = &mut kept[index];
                        first.args = job.args;
                        first.scheduled_at = job.scheduled_at;
                        first.run_after = job.run_after;
                    }
                    map.push((index, true));
                }
                None => {
                    by_key.insert(unique.key.clone(), kept.len());
                    map.push((kept.len(), false));
                    kept.push(job);
                }
            }
        }
        DedupedBatch { jobs: kept, map }
    }

    /// Maps the results of the deduplicated jobs back to the input order.
    pub fn results(&self, sent: &[JobInsertResult]) -> Vec<JobInsertResult> {
        self.map
            .iter()
            .map(|&(index, folded)| {
                let result = sent[index];
                JobInsertResult {
                    id: result.id,
                    duplicate: result.duplicate || folded,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: Option<&[u8]>, n: i64, on_conflict: OnConflict) -> JobInsert {
        let mut job = JobInsert::new("q", "k", serde_json::json!({ "n": n }));
        job.unique = key.map(|key| UniqueInsert {
            key: key.to_vec(),
            states: 0b1111,
            on_conflict,
        });
        job
    }

    #[test]
    fn folds_duplicates_into_the_first() {
        let batch = DedupedBatch::new(vec![
            job(Some(b"a"), 1, OnConflict::Skip),
            job(None, 2, OnConflict::Skip),
            job(Some(b"a"), 3, OnConflict::Skip),
            job(Some(b"b"), 4, OnConflict::Replace),
            job(Some(b"b"), 5, OnConflict::Replace),
        ]);
        assert_eq!(batch.jobs.len(), 3);
        assert_eq!(batch.jobs[0].args.to_value()["n"], 1);
        assert_eq!(batch.jobs[2].args.to_value()["n"], 5);
        let sent: Vec<_> = (10..13)
            .map(|id| JobInsertResult {
                id,
                duplicate: false,
            })
            .collect();
        let ids: Vec<_> = batch
            .results(&sent)
            .iter()
            .map(|r| (r.id, r.duplicate))
            .collect();
        assert_eq!(
            ids,
            [
                (10, false),
                (11, false),
                (10, true),
                (12, false),
                (12, true)
            ]
        );
    }

    #[test]
    fn folds_idempotency_keys_into_the_first() {
        let keyed = |key: &str, n: i64| {
            let mut job = job(None, n, OnConflict::Skip);
            job.idempotency = Some(crate::IdempotencyInsert::new(key));
            job
        };
        let batch = DedupedBatch::new(vec![keyed("a", 1), keyed("b", 2), keyed("a", 3)]);
        assert_eq!(batch.jobs.len(), 2);
        assert_eq!(batch.map, [(0, false), (1, false), (0, true)]);
    }
}
