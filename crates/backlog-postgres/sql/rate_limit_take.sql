-- $1 key, $2 max, $3 period in microseconds, $4 tokens wanted, $5 now (NULL = database clock).
-- A missing bucket is created full. An existing one is refilled by the time since refilled_at
-- (never negative, so an explicit `now` in the past refills nothing), capped at max; then
-- min(wanted, whole tokens) are taken. ON CONFLICT DO UPDATE locks the row, so concurrent takes
-- of one bucket are serialized. The refill expression is spelled out twice: SET cannot name
-- another SET's result.
INSERT INTO backlog_rate_limit AS bucket (key, max, period_us, tokens, refilled_at, last_granted)
VALUES (
    $1::text, $2::integer, $3::bigint,
    $2::integer - least($4::integer, $2::integer),
    coalesce($5::timestamptz, now()),
    least($4::integer, $2::integer)
)
ON CONFLICT (key) DO UPDATE
SET max = excluded.max,
    period_us = excluded.period_us,
    last_granted = least(
        $4::integer,
        floor(least(
            excluded.max::double precision,
            bucket.tokens + greatest(
                0, extract(epoch FROM excluded.refilled_at - bucket.refilled_at) * 1000000
            ) * excluded.max / excluded.period_us
        ))::integer
    ),
    tokens = least(
        excluded.max::double precision,
        bucket.tokens + greatest(
            0, extract(epoch FROM excluded.refilled_at - bucket.refilled_at) * 1000000
        ) * excluded.max / excluded.period_us
    ) - least(
        $4::integer,
        floor(least(
            excluded.max::double precision,
            bucket.tokens + greatest(
                0, extract(epoch FROM excluded.refilled_at - bucket.refilled_at) * 1000000
            ) * excluded.max / excluded.period_us
        ))::integer
    ),
    refilled_at = greatest(bucket.refilled_at, excluded.refilled_at)
RETURNING last_granted AS granted, tokens
