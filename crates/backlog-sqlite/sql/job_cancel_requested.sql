-- :ids, a JSON array: those still running with a cancellation request (a read-only poll).
SELECT id
FROM backlog_job
WHERE id IN (SELECT value FROM json_each(:ids))
  AND state = 'running'
  AND cancel_requested_at IS NOT NULL
ORDER BY id
