-- Burn-down: claim up to $2 available jobs of queue $1 in run order, skipping rows other clients
-- hold, and delete them in the same statement (the least a claim can write).
DELETE FROM bench_ceiling_job
WHERE id IN (
    SELECT id
    FROM bench_ceiling_job
    WHERE state = 'available'
      AND hashtextextended(queue, 0) = hashtextextended($1::text, 0) AND queue = $1::text
    ORDER BY priority DESC, scheduled_at, id
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
)
