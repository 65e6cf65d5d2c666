-- $1 ids (empty: any), $2 queue (NULL: any), $3 kind (NULL: any), $4 states (never running or
-- available), $5 notification channel. A job that used all its attempts gets one more.
WITH target AS (
    SELECT id
    FROM backlog_job
    WHERE (cardinality($1::bigint[]) = 0 OR id = ANY ($1::bigint[]))
      AND ($2::text IS NULL OR queue = $2::text)
      AND ($3::text IS NULL OR kind = $3::text)
      AND state = ANY ($4::text[]::backlog_job_state[])
      AND state NOT IN ('running', 'available')
      -- A job waiting for its workflow dependencies is left alone (retry the workflow instead).
      AND NOT (state = 'scheduled' AND deps_left > 0)
    ORDER BY id
    FOR UPDATE
),
retried AS (
    UPDATE backlog_job AS job
    SET state = 'available',
        scheduled_at = now(),
        finalized_at = NULL,
        cancel_requested_at = NULL,
        max_attempts = CASE
            WHEN job.attempt >= job.max_attempts THEN job.attempt + 1
            ELSE job.max_attempts
        END
    FROM target
    WHERE job.id = target.id
    RETURNING job.id, job.queue
),
notified AS (
    SELECT pg_notify($5::text, queue) FROM (SELECT DISTINCT queue FROM retried) AS queues
)
SELECT id
FROM retried
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY id
