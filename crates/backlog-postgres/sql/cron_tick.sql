-- $1 name, $2 expected next_run_at, $3 new next_run_at, $4 last_run_at.
-- The compare-and-set of a tick: a concurrent caller blocks on the row lock, then re-checks the
-- condition against the committed row and updates nothing.
UPDATE backlog_cron
SET next_run_at = $3::timestamptz, last_run_at = $4::timestamptz
WHERE name = $1::text AND next_run_at = $2::timestamptz AND enabled
RETURNING name
