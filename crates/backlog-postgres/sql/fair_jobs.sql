-- Fair claim, step 2: for each key of $2, its next available jobs in run order: $3 of them
-- after skipping $4 (partial index backlog_job_fetch_partition). $5 kinds (empty: any).
-- Returns each job with its group's position (1-based) and its turn within the group.
SELECT g.pos, c.id,
    (row_number() OVER (
        PARTITION BY g.pos ORDER BY c.priority DESC, c.scheduled_at, c.id
    ) - 1 + g.off)::integer AS turn
FROM unnest($2::text[], $3::integer[], $4::integer[]) WITH ORDINALITY AS g (key, lim, off, pos)
CROSS JOIN LATERAL (
    SELECT job.id, job.priority, job.scheduled_at
    FROM backlog_job AS job
    WHERE job.state = 'available' AND job.queue = $1::text
      AND job.partition_key = g.key
      AND (cardinality($5::text[]) = 0 OR job.kind = ANY ($5::text[]))
    ORDER BY job.priority DESC, job.scheduled_at, job.id
    LIMIT g.lim OFFSET g.off
) AS c
WHERE g.lim > 0
