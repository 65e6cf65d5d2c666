-- Poison-job detection: how many times a job was rescued after its worker stopped heartbeating.
ALTER TABLE backlog_job ADD COLUMN rescue_count integer NOT NULL DEFAULT 0;

-- Finished jobs moved out of the hot table by the cleaner when archiving is on. The whole row is
-- kept as JSON (to_jsonb of the job row), so the archive survives later schema changes and stays
-- queryable with plain SQL: SELECT job->'args' FROM backlog_job_archive WHERE kind = '...'.
CREATE TABLE backlog_job_archive (
    id bigint PRIMARY KEY,
    queue text NOT NULL,
    kind text NOT NULL,
    state backlog_job_state NOT NULL,
    created_at timestamptz NOT NULL,
    finalized_at timestamptz NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    job jsonb NOT NULL
);

CREATE INDEX backlog_job_archive_finalized ON backlog_job_archive (finalized_at);
CREATE INDEX backlog_job_archive_kind ON backlog_job_archive (kind, finalized_at);
