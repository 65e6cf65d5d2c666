-- Jobs of queue $1 running now, for its max_running limit. Walks the partial index
-- backlog_job_lease (every running job of the database, bounded by the total concurrency of
-- the workers) rather than a dedicated index that every fetch and finish would maintain.
SELECT count(*) AS count
FROM backlog_job
WHERE state = 'running'
  AND queue = $1::text
