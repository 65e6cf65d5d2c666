-- The fair claim of queue $1, in one statement (one round trip, where it used to take five to
-- seven): lists the keys, shares $3 jobs among them, claims the chosen jobs and moves the
-- cursor, by the sharing rules of crates/backlog-storage/src/fair.rs (which the SQLite backend
-- runs step by step). Runs in the limited fetch's transaction, after the statement that locked
-- the queue's settings row: its snapshot is taken after the lock, so it sees every claim the
-- previous lock holder committed (per-key running counts included).
-- $1 queue, $2 cursor (the last key served, '' for none), $3 max, $4 per-key running limit
-- (NULL: none), $5 kinds (empty: any), $6 worker id, $7 lease in microseconds, $8 now (NULL:
-- database clock). Returns the claimed jobs, each with its place in the claim (`claim_order`).
--
-- 1. `keys`: up to $3 keys with available jobs, in key order after $2, wrapping around to the
--    keys up to $2. Each key is one probe of the partial index backlog_job_fetch_partition (a
--    skip scan), so the cost grows with the keys read, not with the jobs queued behind them.
-- 2. `roomed`, `sized`: each key's room (with $4, the limit less its running jobs, counted on
--    backlog_job_running_partition, which holds the jobs claimed under the limit, once per key, hence MATERIALIZED; without $4 the CASE never
--    reads the count: the statement runs with a generic plan, src/plan.rs) and its share, `ceil($3 / keys)` capped by the room. `first`: each key's
--    next `share` jobs in run order, an ordered walk of backlog_job_fetch_partition per key,
--    numbered by WITH ORDINALITY (no sort).
-- 3. `topped`: if the first read left the claim short, the keys that filled their share may
--    give up to their remaining room (`more`, read past their share) and the jobs without a key
--    fill the rest (`unkeyed`: a walk of backlog_job_fetch past the keyed jobs, which is why
--    its LIMIT is 0, and nothing is read, unless the claim is short).
-- 4. `chosen`: the first read turn by turn (within a turn in key order), then the top-up by
--    key then the unkeyed jobs, numbered in that order and cut at $3. `claimed` claims those
--    still available, as job_fetch_available.sql would, and returns each with its number
--    (`claim_order`: the caller sorts by it, cheaper than sorting the wide rows here); `moved`
--    sets the cursor to the last key served, if any key was.
--
-- Plans (issue #9; pinned by tests/plans.rs): every lookup is index-driven whatever the
-- statistics say. `claimed` joins `chosen` to the job table by primary key, a nested loop of
-- primary-key probes: the planner's guess for `chosen` is a few hundred rows at most, far
-- below what a hash join over the table would need. The state test is written
-- `state::text = 'available'` on purpose: as `state = 'available'` it matches the partial
-- index backlog_job_fetch, and without statistics the planner may AND a bitmap walk of that
-- whole index with the primary-key probe; the cast is the same test (also when rechecked on a
-- concurrently updated row) that no index predicate matches. The claim commits
-- asynchronously like every claim (see job_fetch_available.sql).
WITH RECURSIVE relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
),
after_cursor (k, n) AS (
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
),
keys AS (
    SELECT listed.k, row_number() OVER (ORDER BY listed.n) AS pos
    FROM (
        SELECT k, n FROM after_cursor WHERE k IS NOT NULL
        UNION ALL
        SELECT k, n + $3::integer FROM from_start WHERE k IS NOT NULL AND k <= $2::text
    ) AS listed
    ORDER BY listed.n
    LIMIT $3::integer
),
counted AS (
    SELECT count(*) AS keys, greatest(($3::integer + count(*) - 1) / greatest(count(*), 1), 1)
        AS share
    FROM keys
),
roomed AS MATERIALIZED (
    SELECT keys.k, keys.pos,
        CASE WHEN $4::integer IS NULL THEN $3::integer::bigint
        ELSE greatest($4::integer - (
            SELECT count(*) FROM backlog_job AS running
            WHERE running.queue = $1::text AND running.state = 'running'
              AND running.partition_counted AND running.partition_key = keys.k
        ), 0) END AS room
    FROM keys
),
sized AS (
    SELECT roomed.k, roomed.pos, roomed.room, least(roomed.room, counted.share) AS share
    FROM roomed CROSS JOIN counted
),
first AS (
    SELECT s.pos, f.id, f.turn - 1 AS turn
    FROM sized AS s
    CROSS JOIN LATERAL unnest(ARRAY(
        SELECT job.id
        FROM backlog_job AS job
        WHERE job.state = 'available' AND job.queue = $1::text
          AND job.partition_key = s.k
          AND (cardinality($5::text[]) = 0 OR job.kind = ANY ($5::text[]))
        ORDER BY job.priority DESC, job.scheduled_at, job.id
        LIMIT s.share
    )) WITH ORDINALITY AS f (id, turn)
    WHERE s.share > 0
),
short AS (
    SELECT greatest($3::integer - (SELECT count(*) FROM first), 0) AS n
),
topped AS (
    SELECT s.k, s.pos, s.share,
        CASE WHEN short.n > 0 AND s.share > 0 AND coalesce(got.n, 0) = s.share
            THEN least(s.room - s.share, short.n) ELSE 0 END AS extra
    FROM sized AS s
    CROSS JOIN short
    LEFT JOIN (SELECT pos, count(*) AS n FROM first GROUP BY pos) AS got ON got.pos = s.pos
),
more AS (
    SELECT t.pos, m.id, m.turn - 1 + t.share AS turn
    FROM topped AS t
    CROSS JOIN LATERAL unnest(ARRAY(
        SELECT job.id
        FROM backlog_job AS job
        WHERE job.state = 'available' AND job.queue = $1::text
          AND job.partition_key = t.k
          AND (cardinality($5::text[]) = 0 OR job.kind = ANY ($5::text[]))
        ORDER BY job.priority DESC, job.scheduled_at, job.id
        LIMIT t.extra OFFSET t.share
    )) WITH ORDINALITY AS m (id, turn)
    WHERE t.extra > 0
),
unkeyed AS (
    SELECT u.id, u.turn - 1 AS turn
    FROM unnest(ARRAY(
        SELECT job.id
        FROM backlog_job AS job
        WHERE job.state = 'available' AND job.queue = $1::text AND job.partition_key IS NULL
          AND (cardinality($5::text[]) = 0 OR job.kind = ANY ($5::text[]))
        ORDER BY job.priority DESC, job.scheduled_at, job.id
        LIMIT (SELECT n FROM short)
    )) WITH ORDINALITY AS u (id, turn)
),
chosen AS (
    SELECT candidates.id, candidates.pos, candidates.ord
    FROM (
        SELECT c.id, c.pos,
            row_number() OVER (
                ORDER BY c.phase, CASE WHEN c.phase = 0 THEN c.turn ELSE c.pos END,
                    CASE WHEN c.phase = 0 THEN c.pos ELSE c.turn END
            ) AS ord
        FROM (
            SELECT id, pos, turn, 0 AS phase FROM first
            UNION ALL
            SELECT id, pos, turn, 1 FROM more
            UNION ALL
            SELECT unkeyed.id, counted.keys + 1, unkeyed.turn, 1 FROM unkeyed CROSS JOIN counted
        ) AS c
    ) AS candidates
    WHERE candidates.ord <= $3::integer
),
claimed AS (
    UPDATE backlog_job AS job
    SET state = 'running',
        attempt = job.attempt + 1,
        attempted_at = coalesce($8::timestamptz, now()),
        attempted_by = array_append(job.attempted_by, $6::text),
        lease_expires_at = coalesce($8::timestamptz, now()) + $7::bigint * interval '1 microsecond',
        lease_token = uuid_send(gen_random_uuid()),
        -- Counted against the per-key limit only when there is one (migration 015).
        partition_counted = $4::integer IS NOT NULL AND job.partition_key IS NOT NULL
    FROM chosen
    WHERE job.id = chosen.id AND job.state::text = 'available'
    RETURNING job.*, chosen.ord AS claim_order
),
moved AS (
    UPDATE backlog_queue
    SET partition_cursor = (
        SELECT keys.k FROM keys
        WHERE keys.pos = (
            SELECT max(chosen.pos) FROM chosen CROSS JOIN counted WHERE chosen.pos <= counted.keys
        )
    )
    WHERE name = $1::text
      AND EXISTS (SELECT 1 FROM chosen CROSS JOIN counted WHERE chosen.pos <= counted.keys)
)
SELECT claimed.*
FROM claimed
CROSS JOIN relaxed
