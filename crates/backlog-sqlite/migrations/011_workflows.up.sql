-- Workflows (jobs with dependencies) and batches (jobs grouped, with a callback). Times are
-- TEXT like every Backlog time (see 001_init).

CREATE TABLE backlog_workflow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE backlog_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- A child batch is one member of its parent.
    parent_id INTEGER,
    description TEXT NOT NULL DEFAULT '',
    -- Members added (jobs and child batches), and how the finished ones ended.
    total INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    -- The callback job to enqueue when the batch finishes (NULL kind: none).
    callback_queue TEXT,
    callback_kind TEXT,
    callback_args TEXT,
    callback_priority INTEGER,
    callback_max_attempts INTEGER,
    -- 0: only if every member succeeded; 1: whatever the outcome.
    callback_on INTEGER NOT NULL DEFAULT 1,
    callback_job_id INTEGER,
    created_at TEXT NOT NULL,
    sealed_at TEXT,
    finished_at TEXT
) STRICT;

ALTER TABLE backlog_job ADD COLUMN workflow_id INTEGER;
-- Dependencies not yet settled; the job waits (scheduled in the year 9999) while > 0.
ALTER TABLE backlog_job ADD COLUMN deps_left INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backlog_job ADD COLUMN batch_id INTEGER;

CREATE INDEX backlog_job_workflow ON backlog_job (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX backlog_job_batch ON backlog_job (batch_id) WHERE batch_id IS NOT NULL;

-- One row per edge: job_id runs after depends_on. Keyed by the dependency, which is how a
-- finished job finds its dependants; workflow_id lets the cleaner drop a finished workflow's
-- edges with it.
CREATE TABLE backlog_job_dependency (
    workflow_id INTEGER NOT NULL,
    depends_on INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    -- 0: cancel job_id if depends_on is discarded or cancelled; 1: run it anyway.
    on_failure INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (depends_on, job_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX backlog_job_dependency_job ON backlog_job_dependency (job_id);
CREATE INDEX backlog_job_dependency_workflow ON backlog_job_dependency (workflow_id);

-- The cleaner keeps a batch while it has children.
CREATE INDEX backlog_batch_parent ON backlog_batch (parent_id) WHERE parent_id IS NOT NULL;
