-- min() per group over backlog_job_available_age: one index probe per queue.
SELECT queue, min(scheduled_at) AS oldest_available_at
FROM backlog_job INDEXED BY backlog_job_available_age
WHERE state = 'available'
GROUP BY queue
ORDER BY queue
