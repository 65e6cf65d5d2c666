-- The plain claim, step 3, and the fair claim's last step (after job_claim_ids.sql): claims the
-- jobs just read. :ids is a JSON array of their ids and :tokens their lease tokens, 16 bytes each
-- in the same order (the array index `key` picks a job's). The rows come back from the read,
-- updated by the caller (src/queue.rs, `claim_rows`) as here: no RETURNING, which
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
