INSERT INTO backlog_migration (version, name, applied_at) VALUES (:version, :name, :applied_at)
