-- Deletes up to $1 workflows none of whose jobs is left in the job table (the cleaner deleted
-- them all after their retention), with their edges. A workflow being inserted is invisible
-- until its transaction commits with its jobs, so it is never taken for an empty one.
WITH gone AS (
    SELECT id
    FROM backlog_workflow AS workflow
    WHERE NOT EXISTS (SELECT 1 FROM backlog_job WHERE workflow_id = workflow.id)
    ORDER BY id
    LIMIT $1::bigint
    FOR UPDATE SKIP LOCKED
),
edges AS (
    DELETE FROM backlog_job_dependency WHERE workflow_id IN (SELECT id FROM gone)
)
DELETE FROM backlog_workflow WHERE id IN (SELECT id FROM gone)
RETURNING id
