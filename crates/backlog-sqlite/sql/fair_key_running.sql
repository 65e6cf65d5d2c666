-- Fair claim, per-key limit: jobs of one key running now (index backlog_job_running_partition).
SELECT count(*)
FROM backlog_job
WHERE queue = :queue AND state = 'running' AND partition_key = :key
