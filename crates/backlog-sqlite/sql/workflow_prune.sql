-- Deletes up to :limit workflows none of whose jobs is left in the job table (the cleaner
-- deleted them all after their retention); their edges follow (workflow_prune_edges.sql).
DELETE FROM backlog_workflow
WHERE id IN (
    SELECT id
    FROM backlog_workflow AS workflow
    WHERE NOT EXISTS (SELECT 1 FROM backlog_job WHERE workflow_id = workflow.id)
    ORDER BY id
    LIMIT :limit
)
RETURNING id
