-- Records a workflow whose jobs were just inserted in this transaction: $1 name, $2 job ids,
-- $3 each job's number of dependencies, $4/$5/$6 the edges (dependant, dependency, on_failure).
-- Data-modifying CTEs run whether or not they are referenced.
WITH workflow AS (
    INSERT INTO backlog_workflow (name) VALUES ($1::text) RETURNING id
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
