-- Appended to job_finish_many.sql (src/sql.rs): the fast path for a job of no workflow or
-- batch. No RETURNING: SQLite builds an ephemeral table for the rows a RETURNING clause
-- returns, once per execution, and this statement runs once per finished job; whether it
-- applied is the change count. A job it does not change (fenced out, already recorded, or of a
-- workflow or batch) goes through job_finish_many_settle.sql.
  AND workflow_id IS NULL AND batch_id IS NULL
