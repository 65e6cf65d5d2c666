DELETE FROM backlog_cron WHERE name = :name
