-- :before_id (NULL: from the newest), :limit.
SELECT *
FROM backlog_batch
WHERE :before_id IS NULL OR id < :before_id
ORDER BY id DESC
LIMIT :limit
