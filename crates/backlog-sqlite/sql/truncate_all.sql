DELETE FROM backlog_job;
DELETE FROM sqlite_sequence
WHERE name IN ('backlog_job', 'backlog_workflow', 'backlog_batch', 'backlog_event');
DELETE FROM backlog_job_archive;
DELETE FROM backlog_queue;
DELETE FROM backlog_rate_limit;
DELETE FROM backlog_leader;
DELETE FROM backlog_cron;
DELETE FROM backlog_worker;
DELETE FROM backlog_idempotency;
DELETE FROM backlog_workflow;
DELETE FROM backlog_batch;
DELETE FROM backlog_job_dependency;
DELETE FROM backlog_event;
