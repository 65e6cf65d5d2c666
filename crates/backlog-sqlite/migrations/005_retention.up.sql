-- Poison-job detection: how many times a job was rescued after its worker stopped heartbeating.
ALTER TABLE backlog_job ADD COLUMN rescue_count INTEGER NOT NULL DEFAULT 0;

-- Finished jobs moved out of the hot table by the cleaner when archiving is on. The whole row is
-- kept as a JSON object, so the archive survives later schema changes and stays queryable with
-- plain SQL: SELECT job ->> '$.args' FROM backlog_job_archive WHERE kind = '...'.
CREATE TABLE backlog_job_archive (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finalized_at TEXT NOT NULL,
    archived_at TEXT NOT NULL,
    job TEXT NOT NULL
) STRICT;

CREATE INDEX backlog_job_archive_finalized ON backlog_job_archive (finalized_at);
CREATE INDEX backlog_job_archive_kind ON backlog_job_archive (kind, finalized_at);
