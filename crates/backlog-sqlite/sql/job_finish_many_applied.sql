-- Whether an outcome that did not apply was applied before by the same execution (a retried
-- write): the job left `running` but still carries the execution's lease token.
SELECT EXISTS (
    SELECT 1
    FROM backlog_job
    WHERE id = :id AND state <> 'running' AND lease_token = :lease_token
)
