-- A bucket's state before a take (the refill is computed in Rust, see src/queue.rs).
SELECT tokens, refilled_at
FROM backlog_rate_limit
WHERE key = :key
