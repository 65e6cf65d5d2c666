-- $1 ids, $2 notification channel. A job that used all its attempts gets one more.
WITH target AS (
    SELECT id
    FROM backlog_job
    WHERE id = ANY ($1::bigint[])
      AND state NOT IN ('running', 'available')
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
    SELECT pg_notify($2::text, queue) FROM (SELECT DISTINCT queue FROM retried) AS queues
)
SELECT id
FROM retried
WHERE (SELECT count(*) FROM notified) >= 0
ORDER BY id
