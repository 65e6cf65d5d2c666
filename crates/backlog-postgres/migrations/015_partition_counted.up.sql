-- Running jobs per key are counted only for queues with a per-key limit (issue #10). The index
-- backlog_job_running_partition used to hold every running keyed job, so every claim from a fair
-- queue wrote one more index entry (all of one key sharing one value: about a fifth of a fair
-- claim's cost in the bench), although only `partition_max_running` ever reads it. Now a claim
-- marks the jobs it takes `partition_counted` when the queue has that limit, and the index holds
-- only those; setting the limit marks the queue's running keyed jobs in the same transaction
-- (sql/queue_partition_count.sql), so the count is exact from the first claim under the limit.
ALTER TABLE backlog_job ADD COLUMN partition_counted boolean NOT NULL DEFAULT false;

UPDATE backlog_job AS job
SET partition_counted = true
FROM backlog_queue AS q
WHERE q.name = job.queue
  AND q.partition_max_running IS NOT NULL
  AND job.state = 'running'
  AND job.partition_key IS NOT NULL;

DROP INDEX backlog_job_running_partition;
CREATE INDEX backlog_job_running_partition
    ON backlog_job (queue, partition_key)
    WHERE state = 'running' AND partition_counted;
