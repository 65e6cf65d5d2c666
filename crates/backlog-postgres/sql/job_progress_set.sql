-- $1 id, $2 lease token (fence), $3 progress.
UPDATE backlog_job
SET progress = $3::jsonb
WHERE id = $1::bigint
  AND state = 'running'
  AND lease_token = $2::bytea
