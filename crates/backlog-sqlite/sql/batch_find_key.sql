-- The batch created earlier under idempotency key :key.
SELECT id FROM backlog_batch WHERE idempotency_key = :key
