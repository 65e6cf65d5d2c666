SELECT min(scheduled_at) AS next
FROM backlog_job
WHERE state IN ('scheduled', 'retryable')
