-- Records a workflow row; its jobs and edges follow (workflow_create_jobs.sql,
-- workflow_create_edges.sql) in the same transaction.
INSERT INTO backlog_workflow (name, created_at) VALUES (:name, :now) RETURNING id
