-- List criteria are JSON arrays, or NULL for no criterion.
SELECT *
FROM backlog_job
WHERE (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
    AND (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
    AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
    AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
    AND (:priority IS NULL OR priority = :priority)
    AND (:tags IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(:tags) AS wanted
        WHERE wanted.value NOT IN (SELECT value FROM json_each(backlog_job.tags))))
    AND (:fingerprint IS NULL OR fingerprint = :fingerprint)
    AND (:created_after IS NULL OR created_at >= :created_after)
    AND (:created_before IS NULL OR created_at < :created_before)
    AND (:args_path IS NULL OR args -> :args_path = :args_value)
    AND (:metadata_path IS NULL OR metadata -> :metadata_path = :metadata_value)
    AND (:before_id IS NULL OR id < :before_id)
ORDER BY id DESC
LIMIT :limit
