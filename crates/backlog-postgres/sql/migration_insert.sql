INSERT INTO backlog_migration (version, name) VALUES ($1, $2)
