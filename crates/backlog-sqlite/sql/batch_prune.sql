-- One window of the cleaner's sweep over the batches (ids above :after, up to :until,
-- batch_prune_window.sql): deletes the finished ones none of whose member jobs is left in the
-- job table and that have no child batch left (children go first). Answers how many.
DELETE FROM backlog_batch
WHERE id > :after AND id <= :until
  AND finished_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM backlog_job WHERE batch_id = backlog_batch.id)
  AND NOT EXISTS (SELECT 1 FROM backlog_batch AS child WHERE child.parent_id = backlog_batch.id)
