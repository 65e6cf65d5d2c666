-- Stores a bucket's state after a take.
INSERT INTO backlog_rate_limit (key, max, period_us, tokens, refilled_at)
VALUES (:key, :max, :period_us, :tokens, :refilled_at)
ON CONFLICT (key) DO UPDATE
SET max = excluded.max,
    period_us = excluded.period_us,
    tokens = excluded.tokens,
    refilled_at = excluded.refilled_at
