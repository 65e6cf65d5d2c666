-- The fair claim of queue $1, in one statement: reads the queue's fair settings, lists the
-- keys, shares $3 jobs among them, claims the chosen jobs and moves the cursor, by the sharing
-- rules of crates/backlog-storage/src/fair.rs (which the SQLite backend runs step by step). Runs
-- in a transaction, after the statement that locked the queue's settings row: its snapshot is
-- taken after the lock, so it sees every claim the previous lock holder committed (the cursor and
-- per-key running counts included). src/queue.rs sends BEGIN, that lock, this statement and
-- COMMIT pipelined, one round trip, for a queue it last found fair and otherwise unlimited.
-- $1 queue; $2 guard: claim only if the queue is still fair, not paused, and has neither
-- `max_running` nor a rate limit (true when the caller sent this before seeing the locked row;
-- false when it read the row and sized $3 from the limits); $3 max; $4 kinds (empty: any);
-- $5 worker id; $6 lease in microseconds; $7 now (NULL: database clock). Without a fair
-- settings row, or when the guard fails, the claim takes nothing. Returns the claimed jobs, in
-- no order; the one with the lowest id also carries the keys in claim order (`claim_keys`,
-- NULL on the others), from which src/fair.rs puts the jobs in turn order (by
-- backlog_storage::choose): cheaper than joining every claimed row back to its place here.
--
-- 0. `settings`: the queue's cursor (the last key served, '' for none) and per-key limit.
-- 1. `keys`: up to $3 keys with available jobs, in key order after the cursor, wrapping around
--    to the keys up to it. Each key is one probe of the partial index
--    backlog_job_fetch_partition (a skip scan), so the cost grows with the keys read, not with
--    the jobs queued behind them.
-- 2. `roomed`, `sized`: each key's room (with a per-key limit, the limit less its running jobs,
--    counted on backlog_job_running_partition, which holds the jobs claimed under a limit, once
--    per key, hence MATERIALIZED; without a limit the CASE never reads the count, whatever the
--    plan) and its share, `ceil($3 / keys)` capped by the room. `first`: each key's next `share`
--    jobs in run order, an ordered walk of backlog_job_fetch_partition per key, numbered by
--    WITH ORDINALITY (no sort).
-- 3. `topped`: if the first read left the claim short, the keys that filled their share may
--    give up to their remaining room (`more`, read past their share) and the jobs without a key
--    fill the rest (`unkeyed`: a walk of backlog_job_fetch past the keyed jobs, which is why
--    its LIMIT is 0, and nothing is read, unless the claim is short).
-- 4. `chosen`: the first read turn by turn (within a turn in key order), then the top-up by
--    key then the unkeyed jobs, numbered in that order and cut at $3. `claimed` claims those
--    still available, as job_fetch_available.sql would, marking them counted against the
--    per-key limit if there is one (migration 015); `moved` sets the cursor to the last key
--    served, if any key was.
--
-- Plans (issue #9; pinned by tests/plans.rs): every lookup is index-driven whatever the
-- statistics say. `claimed` reaches the chosen rows through `id = ANY (ARRAY(...))`, one
-- primary-key probe each, in physical order, as job_fetch_available.sql does (a join to
-- `chosen` made a nested loop of probes that cost about a tenth of the claim). The state test is written
-- `state::text = 'available'` on purpose: as `state = 'available'` it matches the partial
-- index backlog_job_fetch, and without statistics the planner may AND a bitmap walk of that
-- whole index with the primary-key probe; the cast is the same test (also when rechecked on a
-- concurrently updated row) that no index predicate matches. The claim commits
-- asynchronously like every claim (see job_fetch_available.sql).
WITH RECURSIVE relaxed AS (
    SELECT set_config('synchronous_commit', 'off', true)
),
settings AS MATERIALIZED (
    SELECT coalesce(partition_cursor, '') AS cursor, partition_max_running AS per_key
    FROM backlog_queue
    WHERE name = $1::text
      AND fair
      AND (NOT $2::boolean OR (paused_at IS NULL AND max_running IS NULL AND rate_max IS NULL))
),
after_cursor (k, n) AS (
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
          AND partition_key > (SELECT cursor FROM settings)
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
    WHERE (SELECT cursor FROM settings) <> ''
    UNION ALL
    SELECT (
        SELECT partition_key FROM backlog_job
        WHERE state = 'available' AND queue = $1::text AND partition_key IS NOT NULL
          AND partition_key > f.k
        ORDER BY partition_key LIMIT 1
    ), f.n + 1
    FROM from_start AS f
    WHERE f.k IS NOT NULL AND f.k < (SELECT cursor FROM settings) AND f.n < $3::integer
),
keys AS (
    SELECT listed.k, row_number() OVER (ORDER BY listed.n) AS pos
    FROM (
        SELECT k, n FROM after_cursor WHERE k IS NOT NULL
        UNION ALL
        SELECT k, n + $3::integer
        FROM from_start
        WHERE k IS NOT NULL AND k <= (SELECT cursor FROM settings)
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
        CASE WHEN (SELECT per_key FROM settings) IS NULL THEN $3::integer::bigint
        ELSE greatest((SELECT per_key FROM settings) - (
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
          AND (cardinality($4::text[]) = 0 OR job.kind = ANY ($4::text[]))
        ORDER BY job.priority DESC, job.scheduled_at, job.id
        LIMIT s.share
    )) WITH ORDINALITY AS f (id, turn)
    WHERE s.share > 0
),
short AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM settings)
        THEN greatest($3::integer - (SELECT count(*) FROM first), 0)
        ELSE 0
    END AS n
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
          AND (cardinality($4::text[]) = 0 OR job.kind = ANY ($4::text[]))
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
        WHERE job.state = 'available'
          AND hashtextextended(job.queue, 0) = hashtextextended($1::text, 0)
          AND job.queue = $1::text AND job.partition_key IS NULL
          AND (cardinality($4::text[]) = 0 OR job.kind = ANY ($4::text[]))
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
        attempted_at = coalesce($7::timestamptz, now()),
        attempted_by = array_append(job.attempted_by, $5::text),
        lease_expires_at = coalesce($7::timestamptz, now()) + $6::bigint * interval '1 microsecond',
        lease_token = uuid_send(gen_random_uuid()),
        -- Counted against the per-key limit only when there is one (migration 015).
        partition_counted = (SELECT per_key FROM settings) IS NOT NULL
            AND job.partition_key IS NOT NULL
    WHERE job.id = ANY (ARRAY(SELECT id FROM chosen)) AND job.state::text = 'available'
    RETURNING job.*
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
SELECT claimed.*,
    CASE WHEN claimed.id = (SELECT min(id) FROM claimed)
        THEN (SELECT array_agg(keys.k ORDER BY keys.pos) FROM keys)
    END AS claim_keys
FROM claimed
CROSS JOIN relaxed
