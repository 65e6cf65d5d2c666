-- :id a workflow (NULL: any), :before_id (NULL: from the newest), :limit. Per workflow, its
-- jobs per state (through the partial index on workflow_id) and how many wait for dependencies.
SELECT workflow.id, workflow.name, workflow.created_at,
    (SELECT json_group_object(state, n)
        FROM (SELECT state, count(*) AS n FROM backlog_job
            WHERE workflow_id = workflow.id GROUP BY state)) AS states,
    (SELECT count(*) FROM backlog_job
        WHERE workflow_id = workflow.id AND state = 'scheduled' AND deps_left > 0) AS waiting
FROM backlog_workflow AS workflow
WHERE (:id IS NULL OR workflow.id = :id)
  AND (:before_id IS NULL OR workflow.id < :before_id)
ORDER BY workflow.id DESC
LIMIT :limit
