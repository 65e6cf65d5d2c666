-- $1 ids: those still running with a cancellation request (a read-only poll).
SELECT id
FROM backlog_job
WHERE id = ANY($1::bigint[])
  AND state = 'running'
  AND cancel_requested_at IS NOT NULL
ORDER BY id
