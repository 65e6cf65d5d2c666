-- Executed once per job inside one transaction. The caller encodes every value beforehand (off
-- the writer thread) and decides the state (`scheduled` when scheduled_at is in the future);
-- the id is read with last_insert_rowid(), avoiding RETURNING's per-statement temporary table.
-- A unique job is first looked up with job_insert_many_find_unique.sql.
INSERT INTO backlog_job (
    state, queue, kind, args, priority, max_attempts, scheduled_at, created_at, tags, metadata,
    unique_key, unique_states, fingerprint, timeout_ms, backoff, expires_at, partition_key
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
