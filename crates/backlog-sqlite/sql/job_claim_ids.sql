-- Fair claim, step 3: the chosen jobs (:ids, a JSON array) that are still available, every
-- column. src/queue.rs (`claim_rows`) then claims them as the plain claim does
-- (job_fetch_available_claim.sql).
SELECT *
FROM backlog_job
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'available'
