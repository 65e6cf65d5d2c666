-- One job into the scratch table, with the columns an enqueue sets: ?1 queue, ?2 kind, ?3 args,
-- ?4 now. Run once per row inside one transaction per batch.
INSERT INTO bench_ceiling_job (
    state, queue, kind, args, priority, max_attempts, scheduled_at, created_at
)
VALUES ('available', ?1, ?2, ?3, 0, 25, ?4, ?4)
