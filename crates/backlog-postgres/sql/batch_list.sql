-- $1 before id (NULL: from the newest), $2 limit.
SELECT *
FROM backlog_batch
WHERE $1::bigint IS NULL OR id < $1::bigint
ORDER BY id DESC
LIMIT $2::bigint
