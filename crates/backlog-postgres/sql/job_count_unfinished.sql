-- Jobs per queue for the states still to finish, for the runners' queue-depth gauges. Each
-- branch's WHERE is exactly the predicate of a partial index (backlog_job_fetch,
-- backlog_job_pending, backlog_job_lease), so each reads only the jobs in those states and
-- never the finished history (tests/plans.rs pins the plan).
SELECT queue, 'available'::backlog_job_state AS state, count(*) AS count
FROM backlog_job
WHERE state = 'available'
GROUP BY queue
UNION ALL
SELECT queue, state, count(*) AS count
FROM backlog_job
WHERE state IN ('scheduled', 'retryable')
GROUP BY queue, state
UNION ALL
SELECT queue, 'running'::backlog_job_state AS state, count(*) AS count
FROM backlog_job
WHERE state = 'running'
GROUP BY queue
ORDER BY queue, state
