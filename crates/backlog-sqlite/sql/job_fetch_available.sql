-- The plain claim, step 1 (see src/queue.rs): the jobs to claim, every column, in run order.
-- Runs inside the writer's BEGIN IMMEDIATE transaction, so no other connection can claim the same
-- rows before step 3 does. The walk is an ordered scan of the partial index backlog_job_fetch that
-- stops after :max rows. `available` alone means runnable: jobs only enter it once due (insert,
-- job_schedule, retry), so there is no scheduled_at filter; with one, a job promoted by
-- job_schedule with a `now` ahead of the clock could not be fetched (same as PostgreSQL).
-- :kinds is NULL (any kind) or a JSON array of the kinds to claim.
SELECT *
FROM backlog_job
WHERE state = 'available' AND queue = :queue
  AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
ORDER BY priority DESC, scheduled_at, id
LIMIT :max
