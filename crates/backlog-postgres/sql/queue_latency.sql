-- One index probe per queue (backlog_job_available_age) instead of a scan of every available
-- job: a recursive skip over the distinct queues.
WITH RECURSIVE queues AS (
    (SELECT queue FROM backlog_job WHERE state = 'available' ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM backlog_job j
            WHERE j.state = 'available' AND j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM queues q
    WHERE q.queue IS NOT NULL
)
SELECT q.queue,
       (SELECT min(j.scheduled_at) FROM backlog_job j
        WHERE j.state = 'available' AND j.queue = q.queue) AS oldest_available_at
FROM queues q
WHERE q.queue IS NOT NULL
ORDER BY q.queue
