-- Jobs into the scratch table, with the columns an enqueue sets: ?1 queue, ?2 kind, ?3 args,
-- ?4 now. src/bench.rs appends ceiling_insert_row.sql once per row, up to 64 rows a statement,
-- as the job insert does (job_insert_many.sql); run inside one transaction per batch.
INSERT INTO bench_ceiling_job (
    state, queue, kind, args, priority, max_attempts, scheduled_at, created_at
)
VALUES
