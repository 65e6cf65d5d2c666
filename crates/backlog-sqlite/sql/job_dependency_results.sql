-- The dependencies of job :id with their states and results.
SELECT dep.id, dep.kind, dep.state, dep.result
FROM backlog_job_dependency AS edge
JOIN backlog_job AS dep ON dep.id = edge.depends_on
WHERE edge.job_id = :id
ORDER BY dep.id
