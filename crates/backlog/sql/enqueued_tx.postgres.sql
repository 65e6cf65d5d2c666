-- testing::enqueued_pg_tx: unfinished jobs of one kind, read on the caller's connection
-- (inside its transaction), oldest first. `{schema}` is replaced by Backlog's (validated)
-- schema name.
SELECT id, queue, args, state::text
FROM "{schema}".backlog_job
WHERE kind = $1
    AND state IN ('available', 'scheduled', 'retryable', 'running')
ORDER BY id
