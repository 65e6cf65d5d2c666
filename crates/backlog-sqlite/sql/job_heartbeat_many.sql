-- Executed once per job; a job that no longer matches (no row returned) is lost to its worker.
UPDATE backlog_job
SET lease_expires_at = :lease_expires_at
WHERE id = :id AND state = 'running' AND attempt = :attempt
RETURNING cancel_requested_at IS NOT NULL
