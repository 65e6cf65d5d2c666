-- Jobs of a queue running now, for its max_running limit. Walks the partial index
-- backlog_job_lease (every running job, bounded by the workers' total concurrency) rather than
-- a dedicated index that every fetch and finish would maintain.
SELECT count(*)
FROM backlog_job
WHERE state = 'running' AND queue = :queue
