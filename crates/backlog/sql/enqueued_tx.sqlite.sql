-- testing::enqueued_sqlite_tx: unfinished jobs of one kind, read on the caller's connection
-- (inside its transaction), oldest first.
SELECT id, queue, args, state
FROM backlog_job
WHERE kind = ?1
    AND (state = 'available' OR state = 'scheduled' OR state = 'retryable' OR state = 'running')
ORDER BY id
