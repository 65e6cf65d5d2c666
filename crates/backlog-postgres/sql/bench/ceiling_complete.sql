-- Complete the claimed jobs $1: the columns an outcome write sets for a success.
UPDATE bench_ceiling_job
SET state = 'completed',
    finalized_at = now(),
    lease_expires_at = NULL,
    attempt_durations_us = array_append(attempt_durations_us, 0::bigint)
WHERE id = ANY($1::bigint[]) AND state = 'running'
