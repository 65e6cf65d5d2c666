ALTER TABLE backlog_job
    DROP COLUMN IF EXISTS result,
    DROP COLUMN IF EXISTS progress;
DROP TABLE IF EXISTS backlog_rate_limit;
DROP TABLE IF EXISTS backlog_queue;
