-- $1 ids (empty: any), $2 queue (NULL: any), $3 kind (NULL: any), $4 states (never running).
-- Deletes for good. Jobs of a workflow or a batch are left alone: their dependants and callback
-- count them, so they are cancelled instead. SKIP LOCKED: a job being claimed or finished at
-- this moment is not deleted (it is running, or about to be).
WITH target AS (
    SELECT id
    FROM backlog_job
    WHERE (cardinality($1::bigint[]) = 0 OR id = ANY ($1::bigint[]))
      AND ($2::text IS NULL OR queue = $2::text)
      AND ($3::text IS NULL OR kind = $3::text)
      AND state = ANY ($4::text[]::backlog_job_state[])
      AND state <> 'running'
      AND workflow_id IS NULL
      AND batch_id IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
DELETE FROM backlog_job AS job
USING target
WHERE job.id = target.id
  AND job.state <> 'running'
RETURNING job.id
