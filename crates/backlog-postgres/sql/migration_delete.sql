DELETE FROM backlog_migration WHERE version = $1
