-- $1 ids. Deletes only finalized jobs; running and waiting jobs are left alone.
DELETE FROM backlog_job
WHERE id = ANY($1::bigint[])
  AND state IN ('completed', 'cancelled', 'discarded')
RETURNING id
