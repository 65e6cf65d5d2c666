DROP INDEX backlog_job_running_partition;
CREATE INDEX backlog_job_running_partition
    ON backlog_job (queue, partition_key)
    WHERE state = 'running' AND partition_key IS NOT NULL;
ALTER TABLE backlog_job DROP COLUMN partition_counted;
