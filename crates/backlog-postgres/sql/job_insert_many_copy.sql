-- The rows of a batch of plain jobs (no unique key, no idempotency key), in PostgreSQL's binary
-- COPY format, with the ids and states decided from job_insert_many_ids.sql in the same
-- transaction (src/insert_copy.rs). The other columns take their defaults, as in
-- job_insert_many.sql. COPY writes the identity column as given (like OVERRIDING SYSTEM VALUE).
COPY backlog_job (
    id, state, queue, kind, args, priority, max_attempts, scheduled_at, tags, metadata,
    fingerprint, timeout_ms, backoff, expires_at, partition_key
) FROM STDIN (FORMAT binary)
