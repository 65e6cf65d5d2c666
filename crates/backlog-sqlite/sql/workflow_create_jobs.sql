-- Makes the jobs just inserted members of workflow :workflow: :jobs is a JSON array of
-- [id, deps_left] pairs.
UPDATE backlog_job
SET workflow_id = :workflow, deps_left = input.value ->> 1
FROM json_each(:jobs) AS input
WHERE backlog_job.id = input.value ->> 0
