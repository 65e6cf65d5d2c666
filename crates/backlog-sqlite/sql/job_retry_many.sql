-- A job that used all its attempts gets one more.
UPDATE backlog_job
SET state = 'available',
    scheduled_at = :now,
    finalized_at = NULL,
    cancel_requested_at = NULL,
    max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
WHERE id = :id AND state NOT IN ('running', 'available')
RETURNING queue
