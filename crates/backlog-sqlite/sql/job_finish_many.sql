-- Executed once per finished execution, fenced on (state = 'running', lease_token). Never run
-- alone: src/sql.rs appends job_finish_many_plain.sql (the fast path, for jobs of no workflow
-- or batch: no RETURNING, applied when one row changed) or job_finish_many_settle.sql (a row
-- returned when it applied, saying whether to settle). :message is NULL
-- for outcomes that record no error (completed, snoozed); :attempt_change is -1 for a snooze,
-- which gives the attempt back. :result
-- (JSON text) NULL keeps the stored result. :error_kind and :backtrace are stored apart from the
-- message when the worker gave them.
UPDATE backlog_job
SET state = :state,
    attempt = attempt + :attempt_change,
    scheduled_at = coalesce(:scheduled_at, scheduled_at),
    finalized_at = :finalized_at,
    lease_expires_at = NULL,
    errors = CASE
        WHEN :message IS NULL THEN errors
        ELSE json_insert(
            errors, '$[#]',
            json_patch(
                json_object('attempt', attempt, 'at', :now, 'message', :message, 'panicked', json(:panicked)),
                -- NULL kind or backtrace: left out of the record (json_patch drops null members).
                json_object('kind', :error_kind, 'backtrace', :backtrace)
            )
        )
    END,
    attempt_durations_us = json_insert(attempt_durations_us, '$[#]', :duration_us),
    result = coalesce(:result, result)
WHERE id = :id AND state = 'running' AND lease_token = :lease_token
