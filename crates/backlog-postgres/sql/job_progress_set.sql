-- $1 id, $2 attempt (fence), $3 progress.
UPDATE backlog_job
SET progress = $3::jsonb
WHERE id = $1::bigint
  AND state = 'running'
  AND attempt = $2::integer
