-- Records a workflow whose jobs were just inserted in this transaction: $1 name, $2 job ids,
-- $3 each job's number of dependencies, $4/$5/$6 the edges (dependant, dependency, on_failure),
-- $7 the producer's idempotency key (NULL: none; with one, the job ids are kept on the row so a
-- resend is answered with them). A concurrent insert of the same key fails this statement with a
-- unique violation on backlog_workflow_idempotency; the caller then reads the winner's row.
-- Data-modifying CTEs run whether or not they are referenced.
WITH workflow AS (
    INSERT INTO backlog_workflow (name, idempotency_key, job_ids)
    VALUES ($1::text, $7::text, CASE WHEN $7::text IS NOT NULL THEN $2::bigint[] END)
    RETURNING id
),
jobs AS (
    UPDATE backlog_job AS job
    SET workflow_id = (SELECT id FROM workflow), deps_left = input.deps_left
    FROM unnest($2::bigint[], $3::integer[]) AS input (id, deps_left)
    WHERE job.id = input.id
),
edges AS (
    INSERT INTO backlog_job_dependency (workflow_id, job_id, depends_on, on_failure)
    SELECT (SELECT id FROM workflow), edge.*
    FROM unnest($4::bigint[], $5::bigint[], $6::smallint[]) AS edge
)
SELECT id FROM workflow
