DROP STATISTICS backlog_job_queue_hash;
DROP INDEX backlog_job_fetch;
CREATE INDEX backlog_job_fetch ON backlog_job (queue, priority DESC, scheduled_at, id)
    WHERE state = 'available';
