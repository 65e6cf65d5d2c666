-- The oldest available job of each queue, through the claim's own index backlog_job_fetch
-- (hashtextextended(queue, 0), priority DESC, scheduled_at, id) INCLUDE (queue), with one
-- index probe per queue and priority level instead of a walk over every available job: a
-- recursive skip over the queues' hashes, then over the priority levels of each, then the
-- first scheduled_at of each level. The skip reads each queue's name from the index's included
-- column, with its hash (ordered LIMIT 1 probes: tests/plans.rs pins them).
-- Two queues whose names have the same 64-bit hash (about one chance in 10^12 among 10,000
-- queues) would be reported as one, under either name, with the older of their heads; the
-- claims and counts tell them apart (they compare the name too).
--
-- There is deliberately no second index on (queue, scheduled_at) WHERE state = 'available':
-- in a manual EXPLAIN on 50,000 available jobs with no column statistics, the planner chose
-- that index for the claim and sorted every available job of the queue on each claim.
WITH RECURSIVE hashes(hash, queue) AS (
    (SELECT hashtextextended(queue, 0), queue
     FROM backlog_job
     WHERE state = 'available'
     ORDER BY hashtextextended(queue, 0)
     LIMIT 1)
    UNION ALL
    SELECT next.hash, next.queue
    FROM hashes
    CROSS JOIN LATERAL (
        SELECT hashtextextended(j.queue, 0) AS hash, j.queue
        FROM backlog_job AS j
        WHERE j.state = 'available' AND hashtextextended(j.queue, 0) > hashes.hash
        ORDER BY hashtextextended(j.queue, 0)
        LIMIT 1
    ) AS next
),
levels(hash, priority) AS (
    SELECT hashes.hash,
           (SELECT max(j.priority) FROM backlog_job AS j
            WHERE j.state = 'available' AND hashtextextended(j.queue, 0) = hashes.hash)
    FROM hashes
    UNION ALL
    SELECT levels.hash,
           (SELECT max(j.priority) FROM backlog_job AS j
            WHERE j.state = 'available' AND hashtextextended(j.queue, 0) = levels.hash
              AND j.priority < levels.priority)
    FROM levels
    WHERE levels.priority IS NOT NULL
),
heads AS (
    SELECT levels.hash,
           (SELECT min(j.scheduled_at) FROM backlog_job AS j
            WHERE j.state = 'available' AND hashtextextended(j.queue, 0) = levels.hash
              AND j.priority = levels.priority) AS scheduled_at
    FROM levels
    WHERE levels.priority IS NOT NULL
)
SELECT hashes.queue, min(heads.scheduled_at) AS oldest_available_at
FROM heads
JOIN hashes ON hashes.hash = heads.hash
GROUP BY hashes.queue
ORDER BY hashes.queue
