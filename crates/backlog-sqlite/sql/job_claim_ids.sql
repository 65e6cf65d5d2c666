-- Fair claim, step 3: claims the chosen jobs (:ids, a JSON array), as job_fetch_available.sql
-- does, if they are still available.
UPDATE backlog_job
SET state = 'running',
    attempt = attempt + 1,
    attempted_at = :now,
    attempted_by = json_insert(attempted_by, '$[#]', :worker_id),
    lease_expires_at = :lease_expires_at,
    lease_token = randomblob(16)
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'available'
RETURNING *
