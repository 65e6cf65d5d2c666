-- The writer opens one savepoint per request of a batch (src/writer.rs), so a failing request is
-- rolled back alone.
SAVEPOINT backlog_request
