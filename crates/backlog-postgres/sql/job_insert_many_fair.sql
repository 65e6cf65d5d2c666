-- After a COPY of jobs with partition keys (src/insert_copy.rs), in its transaction: the
-- queues $1 (each once) become fair, as the fair_new and fair_set steps of
-- job_insert_many.sql do (a queue already fair is not written, so producers do not queue on
-- its settings row).
WITH fair_new AS (
    INSERT INTO backlog_queue (name, fair)
    SELECT name, true
    FROM unnest($1::text[]) AS input (name)
    WHERE NOT EXISTS (SELECT 1 FROM backlog_queue AS q WHERE q.name = input.name)
    ON CONFLICT (name) DO NOTHING
    RETURNING name
)
UPDATE backlog_queue AS q
SET fair = true, updated_at = now()
WHERE q.name = ANY ($1::text[])
  AND NOT q.fair
