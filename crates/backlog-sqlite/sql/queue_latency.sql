-- The oldest available job of each queue, through the claim's own index backlog_job_fetch
-- (queue, priority DESC, scheduled_at, id), with one index probe per queue and priority level
-- instead of a walk over every available job: a recursive skip over the queues, then over the
-- priority levels of each, then the first scheduled_at of each level.
--
-- There is deliberately no second index on (queue, scheduled_at) WHERE state = 'available':
-- in a manual EXPLAIN on 50,000 available jobs with no column statistics, the planner chose
-- that index for the claim and sorted every available job of the queue on each claim.
WITH RECURSIVE queues(queue) AS (
    SELECT min(queue) FROM backlog_job WHERE state = 'available'
    UNION ALL
    SELECT (SELECT min(j.queue) FROM backlog_job AS j
            WHERE j.state = 'available' AND j.queue > queues.queue)
    FROM queues
    WHERE queues.queue IS NOT NULL
),
levels(queue, priority) AS (
    SELECT queues.queue,
           (SELECT max(j.priority) FROM backlog_job AS j
            WHERE j.state = 'available' AND j.queue = queues.queue)
    FROM queues
    WHERE queues.queue IS NOT NULL
    UNION ALL
    SELECT levels.queue,
           (SELECT max(j.priority) FROM backlog_job AS j
            WHERE j.state = 'available' AND j.queue = levels.queue
              AND j.priority < levels.priority)
    FROM levels
    WHERE levels.priority IS NOT NULL
),
heads AS (
    SELECT levels.queue,
           (SELECT min(j.scheduled_at) FROM backlog_job AS j
            WHERE j.state = 'available' AND j.queue = levels.queue
              AND j.priority = levels.priority) AS scheduled_at
    FROM levels
    WHERE levels.priority IS NOT NULL
)
SELECT queue, min(scheduled_at) AS oldest_available_at
FROM heads
GROUP BY queue
ORDER BY queue
