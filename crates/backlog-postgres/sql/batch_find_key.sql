-- The batch created earlier under idempotency key $1.
SELECT id FROM backlog_batch WHERE idempotency_key = $1::text
