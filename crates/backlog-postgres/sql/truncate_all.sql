TRUNCATE backlog_job, backlog_job_archive, backlog_queue, backlog_rate_limit RESTART IDENTITY
