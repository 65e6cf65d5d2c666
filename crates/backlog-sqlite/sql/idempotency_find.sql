-- The job an idempotency key was stored with, if its window has not ended. Race-free: it runs in
-- the same write transaction as the insert and idempotency_store.sql that follow.
SELECT job_id
FROM backlog_idempotency
WHERE key = :key AND expires_at > :now
