SELECT to_regclass('backlog_migration') IS NOT NULL AS present
