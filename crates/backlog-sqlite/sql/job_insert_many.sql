-- Jobs into the job table, inside the writer's transaction. The caller encodes every value
-- beforehand (off the writer thread) and decides the state (`scheduled` when scheduled_at is in
-- the future). src/sql.rs appends job_insert_many_row.sql once per row, for statements of 1,
-- 2, 4, ... 64 rows (src/insert.rs picks the sizes): each statement opens a cursor on the table
-- and on each of its ten indexes, and bumps the AUTOINCREMENT counter in sqlite_sequence, so one
-- statement for many rows does that work once. The ids are read with last_insert_rowid(), avoiding RETURNING's per-statement
-- temporary table: the rows of one statement get consecutive ids, in the order listed (the
-- writer holds the write lock, and each new rowid is one more than the largest in the table).
-- Runs of plain jobs (no tags, metadata, keys or per-job options) take job_insert_many_plain.sql,
-- which binds fewer values. A job with a unique key or an idempotency key is inserted alone,
-- after its lookup (job_insert_many_find_unique.sql, idempotency_find.sql).
INSERT INTO backlog_job (
    state, queue, kind, args, priority, max_attempts, scheduled_at, created_at, tags, metadata,
    unique_key, unique_states, fingerprint, timeout_ms, backoff, expires_at, partition_key
) VALUES
