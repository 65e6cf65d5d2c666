-- One window of the cleaner's sweep over the workflows (ids above :after, up to :until,
-- workflow_prune_window.sql): deletes those none of whose jobs is left in the job table (the
-- cleaner deleted them all after their retention); their edges follow
-- (workflow_prune_edges.sql).
DELETE FROM backlog_workflow
WHERE id > :after AND id <= :until
  AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE workflow_id = backlog_workflow.id)
RETURNING id
