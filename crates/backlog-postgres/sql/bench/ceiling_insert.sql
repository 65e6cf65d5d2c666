-- One multi-row insert into the scratch table: $1 queues, $2 kinds, $3 args, $4 priorities,
-- $5 max attempts, one element per row (the columns an enqueue sets; the rest are defaults).
INSERT INTO bench_ceiling_job (queue, kind, args, priority, max_attempts)
SELECT queue, kind, args, priority, max_attempts
FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::smallint[], $5::integer[])
    AS t (queue, kind, args, priority, max_attempts)
