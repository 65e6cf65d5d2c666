-- $1 ids. Returns the cancelled jobs as they were before.
WITH old AS (
    SELECT *
    FROM backlog_job
    WHERE id = ANY ($1::bigint[])
      AND state IN ('available', 'scheduled', 'retryable')
    ORDER BY id
    FOR UPDATE
),
cancelled AS (
    UPDATE backlog_job AS job
    SET state = 'cancelled',
        finalized_at = now()
    FROM old
    WHERE job.id = old.id
    RETURNING job.id
)
SELECT old.*
FROM old
WHERE old.id IN (SELECT id FROM cancelled)
ORDER BY old.id
