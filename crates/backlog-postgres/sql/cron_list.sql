SELECT *
FROM backlog_cron
ORDER BY name
