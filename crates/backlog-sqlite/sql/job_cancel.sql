-- Cancels a job that has not started, or records a cancellation request on a running one.
-- The caller has read the row (job_get.sql) in the same write transaction and decided.
UPDATE backlog_job
SET state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
    finalized_at = CASE WHEN state = 'running' THEN finalized_at ELSE :now END,
    cancel_requested_at = CASE
        WHEN state = 'running' THEN coalesce(cancel_requested_at, :now)
        ELSE cancel_requested_at
    END
WHERE id = :id
