-- Every queue with settings or jobs, with its job counts per state as a JSON object. An
-- administrative query: the counts scan each queue's jobs.
SELECT names.name,
       settings.paused_at,
       settings.max_running,
       settings.rate_max,
       settings.rate_period_us,
       settings.updated_at,
       settings.fair,
       settings.partition_max_running,
       (
           SELECT json_group_object(state, count)
           FROM (
               SELECT state, count(*) AS count
               FROM backlog_job
               WHERE queue = names.name
               GROUP BY state
           )
       ) AS counts
FROM (SELECT name FROM backlog_queue UNION SELECT queue FROM backlog_job) AS names
LEFT JOIN backlog_queue AS settings ON settings.name = names.name
ORDER BY names.name
