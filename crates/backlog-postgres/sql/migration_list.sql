SELECT version, name, applied_at FROM backlog_migration ORDER BY version
