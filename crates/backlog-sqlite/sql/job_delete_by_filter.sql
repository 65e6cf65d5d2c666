-- :ids is a JSON array of ids or NULL for any; :states a JSON array of states (never running).
-- Deletes for good. Jobs of a workflow or a batch are left alone: their dependants and callback
-- count them, so they are cancelled instead.
DELETE FROM backlog_job
WHERE (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:queue IS NULL OR queue = :queue)
    AND (:kind IS NULL OR kind = :kind)
    AND state IN (SELECT value FROM json_each(:states))
    AND state <> 'running'
    AND workflow_id IS NULL
    AND batch_id IS NULL
RETURNING id
