UPDATE backlog_job
SET state = 'available'
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= :now
    ORDER BY scheduled_at, id
    LIMIT :max
)
RETURNING queue
