-- The edges of the workflows just pruned (:ids, a JSON array).
DELETE FROM backlog_job_dependency WHERE workflow_id IN (SELECT value FROM json_each(:ids))
