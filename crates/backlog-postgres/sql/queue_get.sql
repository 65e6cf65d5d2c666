-- One queue (settings or jobs), shaped like queue_list.sql. $1 queue.
SELECT names.name,
       settings.paused_at,
       settings.max_running,
       settings.rate_max,
       settings.rate_period_us,
       settings.updated_at,
       settings.fair,
       settings.partition_max_running,
       (
           SELECT coalesce(jsonb_object_agg(counts.state, counts.count), '{}'::jsonb)
           FROM (
               SELECT state::text AS state, count(*) AS count
               FROM backlog_job
               WHERE queue = names.name
               GROUP BY state
           ) AS counts
       ) AS counts
FROM (
    SELECT $1::text AS name
    WHERE EXISTS (SELECT 1 FROM backlog_queue WHERE name = $1::text)
       OR EXISTS (SELECT 1 FROM backlog_job WHERE queue = $1::text)
) AS names
LEFT JOIN backlog_queue AS settings ON settings.name = names.name
