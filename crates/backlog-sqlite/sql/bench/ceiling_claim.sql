-- Claim up to ?2 available jobs of queue ?1 in run order, as a worker would: running, an attempt
-- more, ?3 now, ?4 the lease's end, a lease token. Commits at synchronous=FULL (Backlog's own
-- claim commits at NORMAL).
UPDATE bench_ceiling_job
SET state = 'running',
    attempt = attempt + 1,
    attempted_at = ?3,
    lease_expires_at = ?4,
    lease_token = randomblob(16)
WHERE id IN (
    SELECT id
    FROM bench_ceiling_job
    WHERE state = 'available' AND queue = ?1
    ORDER BY priority DESC, scheduled_at, id
    LIMIT ?2
)
RETURNING id
