-- Appended to job_finish_many.sql (src/sql.rs). settle: a job of a workflow or batch was
-- finalized; the caller settles its dependants and batch in the same transaction
-- (src/settle.rs).
RETURNING finalized_at IS NOT NULL AND (workflow_id IS NOT NULL OR batch_id IS NOT NULL) AS settle
