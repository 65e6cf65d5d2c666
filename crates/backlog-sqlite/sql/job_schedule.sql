UPDATE backlog_job
SET state = 'available'
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= :now
      -- A job waiting for workflow dependencies is released by them, never by the clock.
      AND deps_left = 0
    ORDER BY scheduled_at, id
    LIMIT :max
)
RETURNING queue
