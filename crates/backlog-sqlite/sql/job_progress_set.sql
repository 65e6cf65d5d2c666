-- Fenced on (state = 'running', lease_token).
UPDATE backlog_job
SET progress = :progress
WHERE id = :id AND state = 'running' AND lease_token = :lease_token
