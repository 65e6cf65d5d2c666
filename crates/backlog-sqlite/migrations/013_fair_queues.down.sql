ALTER TABLE backlog_queue DROP COLUMN partition_cursor;
ALTER TABLE backlog_queue DROP COLUMN partition_max_running;
ALTER TABLE backlog_queue DROP COLUMN fair;
DROP INDEX backlog_job_running_partition;
DROP INDEX backlog_job_fetch_partition;
ALTER TABLE backlog_job DROP COLUMN partition_key;
