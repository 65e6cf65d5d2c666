-- The workflow inserted earlier under idempotency key $1, with its jobs' ids in input order.
SELECT id, job_ids FROM backlog_workflow WHERE idempotency_key = $1::text
