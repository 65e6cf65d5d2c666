-- Ends a request's savepoint, keeping its changes (also run after writer_rollback_to.sql).
RELEASE backlog_request
