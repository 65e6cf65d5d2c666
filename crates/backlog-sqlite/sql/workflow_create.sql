-- Records a workflow row; its jobs and edges follow (workflow_create_jobs.sql,
-- workflow_create_edges.sql) in the same transaction. :key is the producer's idempotency key
-- (NULL: none); with one, :job_ids keeps the jobs' ids (a JSON array) to answer a resend.
INSERT INTO backlog_workflow (name, created_at, idempotency_key, job_ids)
VALUES (:name, :now, :key, :job_ids)
RETURNING id
