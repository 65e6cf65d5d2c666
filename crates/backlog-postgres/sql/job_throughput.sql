SELECT date_trunc('minute', finalized_at) AS minute, state::text AS state, count(*) AS count
FROM backlog_job
WHERE finalized_at >= $1::timestamptz
  AND state IN ('completed', 'cancelled', 'discarded')
GROUP BY 1, 2
ORDER BY 1, 2
