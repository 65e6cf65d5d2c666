-- Second statement of setting a per-key limit (src/queue.rs), in the transaction that wrote the
-- queue's settings row: marks the queue's running keyed jobs as counted against the limit
-- (index backlog_job_running_partition holds only marked jobs; migration 015 says why). A
-- statement of its own, so that its snapshot, taken after the settings row's lock was won,
-- sees every job a fair claim holding that lock had claimed. $1 queue.
UPDATE backlog_job
SET partition_counted = true
WHERE queue = $1::text
  AND state = 'running'
  AND partition_key IS NOT NULL
  AND NOT partition_counted
