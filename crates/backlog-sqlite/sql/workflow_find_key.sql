-- The workflow inserted earlier under idempotency key :key, with its jobs' ids (JSON).
SELECT id, job_ids FROM backlog_workflow WHERE idempotency_key = :key
