TRUNCATE backlog_job, backlog_queue, backlog_rate_limit RESTART IDENTITY
