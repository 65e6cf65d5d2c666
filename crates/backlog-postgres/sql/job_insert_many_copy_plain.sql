-- job_insert_many_copy.sql for a batch of plain jobs only: no tags, no metadata, fingerprint,
-- timeout, backoff, expiry or partition key. Those columns take their defaults (the values the
-- full COPY would send for such jobs), so the server reads 8 fields per row instead of 15 and
-- parses no empty array or object (src/insert_copy.rs).
COPY backlog_job (
    id, state, queue, kind, args, priority, max_attempts, scheduled_at
) FROM STDIN (FORMAT binary)
