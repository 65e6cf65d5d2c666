-- Optional filters are folded away at planning time (custom plans, see the crate docs).
SELECT *
FROM backlog_job
WHERE (cardinality($1::bigint[]) = 0 OR id = ANY ($1::bigint[]))
  AND (cardinality($2::text[]) = 0 OR state = ANY ($2::text[]::backlog_job_state[]))
  AND (cardinality($3::text[]) = 0 OR queue = ANY ($3::text[]))
  AND (cardinality($4::text[]) = 0 OR kind = ANY ($4::text[]))
  AND ($5::smallint IS NULL OR priority = $5::smallint)
  AND (cardinality($6::text[]) = 0 OR tags @> $6::text[])
  AND ($7::text IS NULL OR fingerprint = $7::text)
  AND ($8::timestamptz IS NULL OR created_at >= $8::timestamptz)
  AND ($9::timestamptz IS NULL OR created_at < $9::timestamptz)
  AND ($10::text[] IS NULL OR args #> $10::text[] = $11::jsonb)
  AND ($12::text[] IS NULL OR metadata #> $12::text[] = $13::jsonb)
  AND ($14::bigint IS NULL OR id < $14::bigint)
ORDER BY id DESC
LIMIT $15::bigint
