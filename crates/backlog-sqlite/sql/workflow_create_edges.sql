-- The edges of new workflow :workflow: :edges is a JSON array of [job_id, depends_on, on_failure].
INSERT INTO backlog_job_dependency (workflow_id, job_id, depends_on, on_failure)
SELECT :workflow, value ->> 0, value ->> 1, value ->> 2 FROM json_each(:edges)
