-- Every job of workflow $1 with the ids it depends on.
SELECT job.*,
    coalesce(
        (SELECT array_agg(edge.depends_on ORDER BY edge.depends_on)
            FROM backlog_job_dependency AS edge
            WHERE edge.job_id = job.id),
        '{}'
    ) AS depends_on
FROM backlog_job AS job
WHERE job.workflow_id = $1::bigint
ORDER BY job.id
