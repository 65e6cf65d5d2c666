-- :states is a JSON array of state names, or NULL for every state.
SELECT *
FROM backlog_job
WHERE (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
    AND (:queue IS NULL OR queue = :queue)
    AND (:kind IS NULL OR kind = :kind)
    AND (:before_id IS NULL OR id < :before_id)
    AND (:fingerprint IS NULL OR fingerprint = :fingerprint)
ORDER BY id DESC
LIMIT :limit
