-- Settles the dependants of jobs just finalized in this transaction (:ids, a JSON array). Per
-- waiting dependant: its count of unsettled dependencies drops by the number of its edges from
-- :ids; it becomes `available` at zero; a dependency that ended discarded or cancelled, on an
-- edge whose policy is 0 (cancel), cancels it instead. The single writer serializes every
-- settlement. Returns the dependants changed; the caller settles the cancelled ones in turn.
WITH settled AS (
    SELECT edge.job_id,
        count(*) AS settled,
        min(CASE
            WHEN dep.state IN ('discarded', 'cancelled') AND edge.on_failure = 0 THEN dep.id
        END) AS failed_dep
    FROM backlog_job_dependency AS edge
    JOIN backlog_job AS dep ON dep.id = edge.depends_on
    WHERE edge.depends_on IN (SELECT value FROM json_each(:ids))
    GROUP BY edge.job_id
)
UPDATE backlog_job
SET state = CASE
        WHEN settled.failed_dep IS NOT NULL THEN 'cancelled'
        WHEN backlog_job.deps_left - settled.settled <= 0 THEN 'available'
        ELSE 'scheduled'
    END,
    deps_left = CASE
        WHEN settled.failed_dep IS NOT NULL THEN 0
        ELSE max(backlog_job.deps_left - settled.settled, 0)
    END,
    scheduled_at = CASE
        WHEN settled.failed_dep IS NULL AND backlog_job.deps_left - settled.settled <= 0 THEN :now
        ELSE backlog_job.scheduled_at
    END,
    finalized_at = CASE WHEN settled.failed_dep IS NOT NULL THEN :now END,
    errors = CASE
        WHEN settled.failed_dep IS NULL THEN backlog_job.errors
        ELSE json_insert(
            backlog_job.errors, '$[#]',
            json_object(
                'attempt', backlog_job.attempt,
                'at', :now,
                'message', 'dependency ' || settled.failed_dep || ' failed or was cancelled',
                'panicked', json('false')
            )
        )
    END
FROM settled
WHERE backlog_job.id = settled.job_id
  AND backlog_job.state = 'scheduled'
  AND backlog_job.deps_left > 0
RETURNING id, state, queue, batch_id IS NOT NULL AS batched
