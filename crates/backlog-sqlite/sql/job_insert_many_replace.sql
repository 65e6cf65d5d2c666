-- OnConflict::Replace on a duplicate that has not started: move it to the new args and run time.
-- A retryable job moved into the future stays retryable.
UPDATE backlog_job
SET args = :args,
    scheduled_at = :scheduled_at,
    state = CASE WHEN state = 'retryable' AND :state = 'scheduled' THEN state ELSE :state END
WHERE id = :id AND (state = 'available' OR state = 'scheduled' OR state = 'retryable')
