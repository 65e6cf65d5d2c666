-- Fair claim, per-key limit: jobs running now per key of $2 in queue $1 (index
-- backlog_job_running_partition). Read after the settings row was locked, in a new statement,
-- so it sees every claim the previous lock holder committed.
SELECT partition_key, count(*) AS running
FROM backlog_job
WHERE queue = $1::text AND state = 'running' AND partition_key = ANY ($2::text[])
GROUP BY partition_key
