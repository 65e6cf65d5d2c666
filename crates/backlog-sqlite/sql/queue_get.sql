-- One queue (settings or jobs), shaped like queue_list.sql.
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
FROM (
    SELECT :queue AS name
    WHERE EXISTS (SELECT 1 FROM backlog_queue WHERE name = :queue)
       OR EXISTS (SELECT 1 FROM backlog_job WHERE queue = :queue)
) AS names
LEFT JOIN backlog_queue AS settings ON settings.name = names.name
