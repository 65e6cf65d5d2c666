-- The plain claim, step 3: claims the jobs of step 1. :ids is a JSON array of their ids and
-- :tokens their lease tokens, 16 bytes each in the same order (the array index `key` picks a
-- job's). The rows come back from step 1, updated by the caller as here: no RETURNING, which
-- SQLite answers by copying every row into a temporary table first.
-- Plan: the JSON array is walked and each job found by its primary key.
UPDATE backlog_job
SET state = 'running',
    attempt = attempt + 1,
    attempted_at = :now,
    attempted_by = json_insert(attempted_by, '$[#]', :worker_id),
    lease_expires_at = :lease_expires_at,
    lease_token = substr(:tokens, 16 * claimed.key + 1, 16)
FROM json_each(:ids) AS claimed
WHERE backlog_job.id = claimed.value
