SELECT queue, state, count(*) AS count
FROM backlog_job
GROUP BY queue, state
ORDER BY queue, state
