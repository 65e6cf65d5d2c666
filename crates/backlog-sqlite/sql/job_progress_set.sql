-- Fenced on (state = 'running', attempt).
UPDATE backlog_job
SET progress = :progress
WHERE id = :id AND state = 'running' AND attempt = :attempt
