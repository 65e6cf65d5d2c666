-- `backlog bench --scenario history`: rows ?5 + 1 to ?5 + ?1 of a history of ?6 completed jobs
-- of queue ?2 and kind ?3 with args ?4, written as a real success leaves them (attempt 1,
-- attempted by a worker, one attempt duration, the lease token kept, no lease). The history is
-- finalized over the 23 hours before now, oldest first, so the cleaner's default one-day
-- retention for completed jobs leaves it all in place while the benchmark runs.
WITH RECURSIVE g (n) AS (
    SELECT ?5 + 1
    UNION ALL
    SELECT n + 1 FROM g WHERE n < ?5 + ?1
)
INSERT INTO backlog_job (
    state, queue, kind, args, priority, attempt, max_attempts, scheduled_at, created_at,
    attempted_at, finalized_at, attempted_by, attempt_durations_us, lease_token
)
SELECT 'completed', ?2, ?3, ?4, 0, 1, 25, at, at, at, at, '["bench-history"]', '[1000]',
    randomblob(16)
FROM (
    SELECT strftime('%Y-%m-%dT%H:%M:%S', 'now', printf('-%d seconds', (82800 * (?6 - n)) / ?6))
        || '.000000Z' AS at
    FROM g
)
