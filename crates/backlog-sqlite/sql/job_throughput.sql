-- Timestamps are fixed-width text: the first 16 characters are the minute.
SELECT substr(finalized_at, 1, 16) AS minute, state, count(*) AS count
FROM backlog_job
WHERE finalized_at >= :since
    AND (state = 'completed' OR state = 'cancelled' OR state = 'discarded')
GROUP BY 1, 2
ORDER BY 1, 2
