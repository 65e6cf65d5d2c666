-- Fair queues: a job may carry a partition key (a tenant, a customer). A queue that holds keyed
-- jobs is marked `fair` (by the insert itself), and its claims rotate over the keys with
-- available jobs, starting after `partition_cursor`, the last key served; with
-- `partition_max_running`, no key has more jobs running at once across every process.
ALTER TABLE backlog_job
    ADD COLUMN partition_key text CHECK (char_length(partition_key) BETWEEN 1 AND 255);

-- The fair claim: the keys with available jobs (a skip scan, one probe per key) and each key's
-- next jobs in run order. Partial: unkeyed jobs, the common case, pay nothing for it.
CREATE INDEX backlog_job_fetch_partition
    ON backlog_job (queue, partition_key, priority DESC, scheduled_at, id)
    WHERE state = 'available' AND partition_key IS NOT NULL;

-- Running jobs per key, for partition_max_running.
CREATE INDEX backlog_job_running_partition
    ON backlog_job (queue, partition_key)
    WHERE state = 'running' AND partition_key IS NOT NULL;

ALTER TABLE backlog_queue
    ADD COLUMN fair boolean NOT NULL DEFAULT false,
    ADD COLUMN partition_max_running integer CHECK (partition_max_running > 0),
    ADD COLUMN partition_cursor text;
