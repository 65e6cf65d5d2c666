-- Complete claimed job ?1 at ?2 now: the columns an outcome write sets for a success. Run once
-- per job inside one transaction per batch.
UPDATE bench_ceiling_job
SET state = 'completed',
    finalized_at = ?2,
    lease_expires_at = NULL,
    attempt_durations_us = '[0]'
WHERE id = ?1 AND state = 'running'
