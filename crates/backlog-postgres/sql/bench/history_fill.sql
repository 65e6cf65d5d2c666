-- `backlog bench --scenario history`: rows $5 + 1 to $5 + $1 of a history of $6 completed jobs
-- of queue $2 and kind $3 with args $4, written as a real success leaves them (attempt 1,
-- attempted by a worker, one attempt duration, the lease token kept, no lease). The history is
-- finalized over the 23 hours before now, oldest first, so the cleaner's default one-day
-- retention for completed jobs leaves it all in place while the benchmark runs.
INSERT INTO backlog_job (
    state, queue, kind, args, priority, attempt, max_attempts, scheduled_at, created_at,
    attempted_at, finalized_at, attempted_by, attempt_durations_us, lease_token
)
SELECT 'completed', $2::text, $3::text, $4::jsonb, 0, 1, 25, t.at, t.at,
    t.at + interval '1 millisecond', t.at + interval '2 milliseconds', ARRAY['bench-history'],
    ARRAY[1000::bigint], uuid_send(gen_random_uuid())
FROM (
    SELECT now() - interval '23 hours' * (1 - g::double precision / $6::bigint) AS at
    FROM generate_series($5::bigint + 1, $5::bigint + $1::bigint) AS g
) AS t
