-- Undoes a failed request's changes; the savepoint stays open until writer_release.sql.
ROLLBACK TO backlog_request
