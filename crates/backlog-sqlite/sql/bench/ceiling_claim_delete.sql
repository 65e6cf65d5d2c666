-- Burn-down: claim up to ?2 available jobs of queue ?1 in run order and delete them (the least
-- a claim can write). One writer at a time: SQLite needs no SKIP LOCKED.
DELETE FROM bench_ceiling_job
WHERE id IN (
    SELECT id
    FROM bench_ceiling_job
    WHERE state = 'available' AND queue = ?1
    ORDER BY priority DESC, scheduled_at, id
    LIMIT ?2
)
