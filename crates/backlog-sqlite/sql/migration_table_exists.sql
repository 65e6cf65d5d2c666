SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'backlog_migration'
