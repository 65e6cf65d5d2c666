-- Settles the dependants of jobs just finalized in this transaction ($1 ids). Per waiting
-- dependant: its count of unsettled dependencies drops by the number of its edges from $1; it
-- becomes `available` at zero; a dependency that ended discarded or cancelled, on an edge whose
-- policy is 0 (cancel), cancels it instead. Locked in id order, and the dependant's state and
-- count are read from the locked row (FOR UPDATE returns its latest version, which stays locked
-- until commit), so concurrent settlements of one dependant (its last two dependencies
-- finishing in two connections) are applied one after the other.
-- Returns the dependants changed; the cancelled ones are settled in turn by the caller.
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- The finished dependencies are read by `id = ANY (ARRAY(SELECT ...))` (primary-key probes;
-- joined to the edges directly they became a hash over a sequential scan of the job table), so
-- `settled` and `locked` look small to the planner and each dependant is one primary-key probe.
-- The `state = 'scheduled'` test is on the locked row, not the updated table, where it matched
-- the partial index backlog_job_pending and the planner walked all of it.
WITH deps AS (
    SELECT dep.id, dep.state
    FROM backlog_job AS dep
    WHERE dep.id = ANY (ARRAY(SELECT unnest($1::bigint[])))
),
settled AS (
    SELECT edge.job_id,
        count(*)::integer AS settled,
        min(dep.id) FILTER (
            WHERE dep.state IN ('discarded', 'cancelled') AND edge.on_failure = 0
        ) AS failed_dep
    FROM backlog_job_dependency AS edge
    JOIN deps AS dep ON dep.id = edge.depends_on
    WHERE edge.depends_on = ANY ($1::bigint[])
    GROUP BY edge.job_id
),
-- One CTE joined to the table by primary key (two CTEs joined to each other made a nested
-- loop: 2.3 s to release 3,000 dependants).
locked AS (
    SELECT job.id, job.state, job.deps_left, settled.settled, settled.failed_dep
    FROM backlog_job AS job
    JOIN settled ON settled.job_id = job.id
    ORDER BY job.id
    FOR UPDATE OF job
)
UPDATE backlog_job AS job
SET state = CASE
        WHEN locked.failed_dep IS NOT NULL THEN 'cancelled'
        WHEN job.deps_left - locked.settled <= 0 THEN 'available'
        ELSE 'scheduled'
    END::backlog_job_state,
    deps_left = CASE
        WHEN locked.failed_dep IS NOT NULL THEN 0
        ELSE greatest(job.deps_left - locked.settled, 0)
    END,
    scheduled_at = CASE
        WHEN locked.failed_dep IS NULL AND job.deps_left - locked.settled <= 0 THEN now()
        ELSE job.scheduled_at
    END,
    finalized_at = CASE WHEN locked.failed_dep IS NOT NULL THEN now() END,
    errors = CASE
        WHEN locked.failed_dep IS NULL THEN job.errors
        ELSE job.errors || jsonb_build_array(jsonb_build_object(
            'attempt', job.attempt,
            'at', now(),
            'message', 'dependency ' || locked.failed_dep || ' failed or was cancelled',
            'panicked', false
        ))
    END
FROM locked
WHERE job.id = locked.id
  AND locked.state = 'scheduled'
  AND locked.deps_left > 0
RETURNING job.id, job.state::text AS state, job.queue,
    (job.batch_id IS NOT NULL) AS batched
