-- Second step of a fetch from a queue with settings, inside a transaction: locks the queue's
-- settings row so that limited fetches of this queue take turns across every process. The
-- statements that follow run with a fresh snapshot (READ COMMITTED), so they see the jobs the
-- previous lock holder claimed. $1 queue.
SELECT paused_at IS NOT NULL AS paused, max_running, rate_max, rate_period_us, fair,
    partition_max_running, partition_cursor
FROM backlog_queue
WHERE name = $1::text
  AND (paused_at IS NOT NULL OR max_running IS NOT NULL OR rate_max IS NOT NULL OR fair)
FOR UPDATE
