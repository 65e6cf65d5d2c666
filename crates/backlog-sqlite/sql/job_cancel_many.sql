UPDATE backlog_job
SET state = 'cancelled', finalized_at = :now
WHERE id = :id AND state IN ('available', 'scheduled', 'retryable')
