-- $1 now (NULL = database clock), $2 max.
WITH expired AS (
    SELECT id
    FROM backlog_job
    WHERE state = 'running'
      AND lease_expires_at < coalesce($1::timestamptz, now())
    ORDER BY lease_expires_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
),
rescued AS (
    UPDATE backlog_job AS job
    SET state = CASE
            WHEN job.attempt >= job.max_attempts THEN 'discarded'::backlog_job_state
            ELSE 'retryable'::backlog_job_state
        END,
        finalized_at = CASE
            WHEN job.attempt >= job.max_attempts THEN coalesce($1::timestamptz, now())
        END,
        -- Runs again soon; backoff for rescued jobs is a later addition.
        scheduled_at = CASE
            WHEN job.attempt >= job.max_attempts THEN job.scheduled_at
            ELSE coalesce($1::timestamptz, now())
        END,
        lease_expires_at = NULL,
        errors = job.errors || jsonb_build_array(jsonb_build_object(
            'attempt', job.attempt,
            'at', coalesce($1::timestamptz, now()),
            'message', 'lease expired: the worker stopped heartbeating (it crashed, was killed or lost the database)',
            'panicked', false
        ))
    FROM expired
    WHERE job.id = expired.id
    RETURNING job.id
)
SELECT id FROM rescued ORDER BY id
