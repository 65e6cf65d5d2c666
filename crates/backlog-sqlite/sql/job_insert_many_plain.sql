-- Plain jobs into the job table: jobs with no option beyond queue, priority, attempts and run
-- time (no tags, no metadata, no keys, fingerprint, timeout, backoff, expiry or partition), the
-- bulk of a bulk enqueue. Like job_insert_many.sql, which it mirrors, with the other columns
-- left to their defaults: 7 values bound per job instead of 17 (binding was a sixth of the
-- writer's time in a bulk insert), and the creation time bound once per statement as ?1.
-- src/sql.rs appends job_insert_many_plain_row.sql once per row; the ids come from
-- last_insert_rowid() as for job_insert_many.sql.
INSERT INTO backlog_job (
    created_at, state, queue, kind, args, priority, max_attempts, scheduled_at
) VALUES
