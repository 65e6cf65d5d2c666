-- The edges of a new workflow: :edges is a JSON array of [job_id, depends_on, on_failure].
INSERT INTO backlog_job_dependency (job_id, depends_on, on_failure)
SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(:edges)
