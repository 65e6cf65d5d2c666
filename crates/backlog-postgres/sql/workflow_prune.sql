-- One window of the cleaner's sweep over the workflows: examines the $1 workflows with the
-- lowest ids above $2 and deletes, with their edges, those none of whose jobs is left in the
-- job table (the cleaner deleted them all after their retention). A workflow being inserted
-- is invisible until its transaction commits with its jobs, so it is never taken for an empty
-- one. Answers how many were deleted and examined, and the last id examined (where the next
-- window starts).
WITH examined AS (
    SELECT id FROM backlog_workflow WHERE id > $2::bigint ORDER BY id LIMIT $1::bigint
),
gone AS (
    SELECT id
    FROM backlog_workflow AS workflow
    WHERE id IN (SELECT id FROM examined)
      AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE workflow_id = workflow.id)
    FOR UPDATE SKIP LOCKED
),
edges AS (
    DELETE FROM backlog_job_dependency WHERE workflow_id IN (SELECT id FROM gone)
),
deleted AS (
    DELETE FROM backlog_workflow WHERE id IN (SELECT id FROM gone)
    RETURNING id
)
SELECT (SELECT count(*) FROM deleted) AS deleted,
       (SELECT count(*) FROM examined) AS examined,
       (SELECT max(id) FROM examined) AS last
