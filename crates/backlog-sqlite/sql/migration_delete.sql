DELETE FROM backlog_migration WHERE version = :version
