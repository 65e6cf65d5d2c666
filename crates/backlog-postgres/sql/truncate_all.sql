TRUNCATE backlog_job, backlog_job_archive, backlog_queue, backlog_rate_limit, backlog_leader,
    backlog_cron, backlog_worker, backlog_idempotency RESTART IDENTITY
