-- Serializes migrations of one schema across processes, until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('backlog_migrate:' || $1::text))
