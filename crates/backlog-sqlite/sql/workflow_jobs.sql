-- Every job of workflow :id with the ids it depends on (a JSON array).
SELECT job.*,
    (SELECT json_group_array(depends_on)
        FROM (SELECT depends_on FROM backlog_job_dependency
            WHERE job_id = job.id ORDER BY depends_on)) AS depends_on
FROM backlog_job AS job
WHERE job.workflow_id = :id
ORDER BY job.id
