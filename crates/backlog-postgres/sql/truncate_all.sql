TRUNCATE backlog_job, backlog_leader, backlog_cron RESTART IDENTITY
