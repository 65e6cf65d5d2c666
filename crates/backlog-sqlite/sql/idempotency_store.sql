-- Stores an idempotency key with the job just inserted, replacing an expired entry of the key
-- (idempotency_find.sql found no live one in this transaction).
INSERT INTO backlog_idempotency (key, job_id, expires_at)
VALUES (:key, :job_id, :expires_at)
ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at
