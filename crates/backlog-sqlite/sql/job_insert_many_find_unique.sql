-- The live job holding a unique key, if any. The CASE is the predicate of the partial index
-- backlog_job_unique spelled identically, so SQLite answers from that index. Race-free: it runs
-- in the same write transaction as the insert that follows.
SELECT id, state
FROM backlog_job
WHERE unique_key = :key
    AND CASE state
        WHEN 'available' THEN unique_states & 1
        WHEN 'scheduled' THEN unique_states & 2
        WHEN 'running' THEN unique_states & 4
        WHEN 'retryable' THEN unique_states & 8
        WHEN 'completed' THEN unique_states & 16
        WHEN 'cancelled' THEN unique_states & 32
        WHEN 'discarded' THEN unique_states & 64
    END <> 0
