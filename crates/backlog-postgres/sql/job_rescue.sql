-- $1 now (NULL = database clock), $2 max, $3 poison threshold (0 = off).
-- A rescued job runs again at once (retryable, keeping its scheduled_at so that it keeps its
-- place in the run order instead of queueing behind every job enqueued since), unless its attempts are used up or it
-- has now been rescued $3 times: then it is a poison job that keeps killing or stalling its
-- worker, and it is discarded with that reason instead of being retried forever.
-- Plans (issue #9; pinned by tests/plans.rs): the job table is often unanalyzed, or analyzed
-- while empty, so every lookup here is shaped to be index-driven whatever the statistics say.
-- Expired leases come from backlog_job_lease; `judged` reads them by `id = ANY (ARRAY(SELECT
-- ...))` (primary-key probes, and a handful of rows to the planner, whatever the statistics),
-- so the UPDATE's join to `judged` is a primary-key probe per job, never a hash over the table.
WITH expired AS (
    SELECT id
    FROM backlog_job
    WHERE state = 'running'
      AND lease_expires_at < coalesce($1::timestamptz, now())
    ORDER BY lease_expires_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
),
judged AS (
    SELECT job.id,
           $3::integer > 0 AND job.rescue_count + 1 >= $3::integer AS poison,
           job.attempt >= job.max_attempts AS exhausted
    FROM backlog_job AS job
    WHERE job.id = ANY (ARRAY(SELECT id FROM expired))
),
rescued AS (
    UPDATE backlog_job AS job
    SET state = CASE
            WHEN judged.poison OR judged.exhausted THEN 'discarded'::backlog_job_state
            ELSE 'retryable'::backlog_job_state
        END,
        finalized_at = CASE
            WHEN judged.poison OR judged.exhausted THEN coalesce($1::timestamptz, now())
        END,
        lease_expires_at = NULL,
        lease_token = NULL,
        rescue_count = job.rescue_count + 1,
        errors = job.errors || jsonb_build_array(jsonb_build_object(
            'attempt', job.attempt,
            'at', coalesce($1::timestamptz, now()),
            'message', CASE
                WHEN judged.poison THEN format(
                    'poison job: rescued %s times after its worker stopped heartbeating (it keeps crashing or stalling its worker); discarded instead of retried',
                    job.rescue_count + 1)
                ELSE 'lease expired: the worker stopped heartbeating (it crashed, was killed or lost the database)'
            END,
            'panicked', false,
            'kind', CASE WHEN judged.poison THEN 'poison' ELSE 'lease_expired' END
        ))
    FROM judged
    WHERE job.id = judged.id
    -- finalized: discarded (attempts used up or poison); its dependants and batch are settled.
    RETURNING job.id, job.finalized_at IS NOT NULL AS finalized
)
SELECT id, finalized FROM rescued ORDER BY id
