-- Executed once per job; a job that no longer carries the token (no row returned) is lost to its
-- execution. One that carries it but is no longer running was finished by this same execution
-- (its outcome raced the heartbeat): not lost, and its lease is left alone.
UPDATE backlog_job
SET lease_expires_at = CASE WHEN state = 'running' THEN :lease_expires_at ELSE lease_expires_at END
WHERE id = :id AND lease_token = :lease_token
RETURNING state = 'running' AND cancel_requested_at IS NOT NULL
