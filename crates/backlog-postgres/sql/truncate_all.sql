TRUNCATE backlog_job, backlog_job_archive, backlog_queue, backlog_rate_limit, backlog_leader,
    backlog_cron, backlog_worker, backlog_idempotency, backlog_workflow, backlog_batch,
    backlog_job_dependency RESTART IDENTITY
