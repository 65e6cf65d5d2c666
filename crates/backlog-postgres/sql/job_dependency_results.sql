-- The dependencies of job $1 with their states and results.
SELECT dep.id, dep.kind, dep.state::text AS state, dep.result
FROM backlog_job_dependency AS edge
JOIN backlog_job AS dep ON dep.id = edge.depends_on
WHERE edge.job_id = $1::bigint
ORDER BY dep.id
