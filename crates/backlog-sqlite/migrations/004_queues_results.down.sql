ALTER TABLE backlog_job DROP COLUMN progress;
ALTER TABLE backlog_job DROP COLUMN result;
DROP TABLE IF EXISTS backlog_rate_limit;
DROP TABLE IF EXISTS backlog_queue;
