-- The compare-and-set of a tick. Writes are serialized by the writer thread, so a second caller
-- with the same expected tick finds next_run_at already moved and updates nothing.
UPDATE backlog_cron
SET next_run_at = :next_run_at, last_run_at = :last_run_at
WHERE name = :name AND next_run_at = :expected AND enabled = 1
