-- Fair claim, step 1: up to $3 partition keys with available jobs in queue $1, in key order
-- after $2 (the queue's cursor, '' for none), wrapping around to the keys up to $2. Each key
-- is one probe of the partial index backlog_job_fetch_partition (a skip scan), so the cost
-- grows with the keys read, not with the jobs queued behind them.
WITH RECURSIVE after_cursor (k, n) AS (
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
          AND partition_key > $2::text
        ORDER BY partition_key LIMIT 1
    ), 1
    UNION ALL
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
          AND partition_key > a.k
        ORDER BY partition_key LIMIT 1
    ), a.n + 1
    FROM after_cursor AS a
    WHERE a.k IS NOT NULL AND a.n < $3::integer
),
from_start (k, n) AS (
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
        ORDER BY partition_key LIMIT 1
    ), 1
    WHERE $2::text <> ''
    UNION ALL
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
          AND partition_key > f.k
        ORDER BY partition_key LIMIT 1
    ), f.n + 1
    FROM from_start AS f
    WHERE f.k IS NOT NULL AND f.k < $2::text AND f.n < $3::integer
)
SELECT k AS partition_key
FROM (
    SELECT k, n FROM after_cursor WHERE k IS NOT NULL
    UNION ALL
    SELECT k, n + $3::integer FROM from_start WHERE k IS NOT NULL AND k <= $2::text
) AS keys
ORDER BY n
LIMIT $3::integer
