-- One index probe per queue on backlog_job_available_age instead of a walk over every available
-- job: a recursive skip from one queue name to the next, then min() per queue.
WITH RECURSIVE queues(queue) AS (
    SELECT min(queue) FROM backlog_job WHERE state = 'available'
    UNION ALL
    SELECT (SELECT min(j.queue) FROM backlog_job AS j
            WHERE j.state = 'available' AND j.queue > queues.queue)
    FROM queues
    WHERE queues.queue IS NOT NULL
)
SELECT queue,
       (SELECT min(j.scheduled_at) FROM backlog_job AS j
        WHERE j.state = 'available' AND j.queue = queues.queue) AS oldest_available_at
FROM queues
WHERE queue IS NOT NULL
ORDER BY queue
