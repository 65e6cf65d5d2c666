DELETE FROM backlog_job;
DELETE FROM sqlite_sequence WHERE name = 'backlog_job';
DELETE FROM backlog_job_archive;
DELETE FROM backlog_queue;
DELETE FROM backlog_rate_limit;
DELETE FROM backlog_leader;
DELETE FROM backlog_cron;
DELETE FROM backlog_worker;
DELETE FROM backlog_idempotency;
