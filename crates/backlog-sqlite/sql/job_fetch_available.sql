-- Runs inside the writer's BEGIN IMMEDIATE transaction, so no other connection can claim the same
-- rows. The inner SELECT walks the partial index backlog_job_fetch in run order and stops after
-- :max rows. `available` alone means runnable: jobs only enter it once due (insert,
-- job_schedule, retry), so there is no scheduled_at filter; with one, a job promoted by
-- job_schedule with a `now` ahead of the clock could not be fetched (same as PostgreSQL).
-- :kinds is NULL (any kind) or a JSON array of the kinds to claim.
-- Each claim draws a random lease token that every later write of the execution must present.
UPDATE backlog_job
SET state = 'running',
    attempt = attempt + 1,
    attempted_at = :now,
    attempted_by = json_insert(attempted_by, '$[#]', :worker_id),
    lease_expires_at = :lease_expires_at,
    lease_token = randomblob(16)
WHERE id IN (
    SELECT id
    FROM backlog_job
    WHERE state = 'available' AND queue = :queue
      AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
    ORDER BY priority DESC, scheduled_at, id
    LIMIT :max
)
RETURNING *
