-- Workflows (jobs with dependencies) and batches (jobs grouped, with a callback).

CREATE TABLE backlog_workflow (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backlog_batch (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A child batch is one member of its parent.
    parent_id bigint,
    description text NOT NULL DEFAULT '',
    -- Members added (jobs and child batches), and how the finished ones ended.
    total bigint NOT NULL DEFAULT 0,
    succeeded bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    cancelled bigint NOT NULL DEFAULT 0,
    -- The callback job to enqueue when the batch finishes (NULL kind: none).
    callback_queue text,
    callback_kind text,
    callback_args jsonb,
    callback_priority smallint,
    callback_max_attempts integer,
    -- 0: only if every member succeeded; 1: whatever the outcome.
    callback_on smallint NOT NULL DEFAULT 1,
    callback_job_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    sealed_at timestamptz,
    finished_at timestamptz
);

-- Metadata-only column additions (constant defaults): no table rewrite.
ALTER TABLE backlog_job
    ADD COLUMN workflow_id bigint,
    -- Dependencies not yet settled; the job waits (scheduled in the year 9999) while > 0.
    ADD COLUMN deps_left integer NOT NULL DEFAULT 0,
    ADD COLUMN batch_id bigint;

CREATE INDEX backlog_job_workflow ON backlog_job (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX backlog_job_batch ON backlog_job (batch_id) WHERE batch_id IS NOT NULL;

-- One row per edge: job_id runs after depends_on. Keyed by the dependency, which is how a
-- finished job finds its dependants; workflow_id lets the cleaner drop a finished workflow's
-- edges with it.
CREATE TABLE backlog_job_dependency (
    workflow_id bigint NOT NULL,
    depends_on bigint NOT NULL,
    job_id bigint NOT NULL,
    -- 0: cancel job_id if depends_on is discarded or cancelled; 1: run it anyway.
    on_failure smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (depends_on, job_id)
);

CREATE INDEX backlog_job_dependency_job ON backlog_job_dependency (job_id);
CREATE INDEX backlog_job_dependency_workflow ON backlog_job_dependency (workflow_id);

-- The cleaner keeps a batch while it has children.
CREATE INDEX backlog_batch_parent ON backlog_batch (parent_id) WHERE parent_id IS NOT NULL;
