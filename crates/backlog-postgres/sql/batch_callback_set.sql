-- Records the callback job enqueued for each finished batch: $1 batch ids, $2 job ids.
UPDATE backlog_batch AS batch
SET callback_job_id = input.job_id
FROM unnest($1::bigint[], $2::bigint[]) AS input (id, job_id)
WHERE batch.id = input.id
