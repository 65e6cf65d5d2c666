DROP TABLE backlog_job_archive;
ALTER TABLE backlog_job DROP COLUMN rescue_count;
