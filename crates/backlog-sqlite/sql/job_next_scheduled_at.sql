SELECT min(scheduled_at) FROM backlog_job WHERE state IN ('scheduled', 'retryable')
