-- Optional filters are folded away at planning time (custom plans, see the crate docs).
SELECT *
FROM backlog_job
WHERE (cardinality($1::text[]) = 0 OR state = ANY ($1::text[]::backlog_job_state[]))
  AND ($2::text IS NULL OR queue = $2::text)
  AND ($3::text IS NULL OR kind = $3::text)
  AND ($4::bigint IS NULL OR id < $4::bigint)
  AND ($6::text IS NULL OR fingerprint = $6::text)
ORDER BY id DESC
LIMIT $5::bigint
