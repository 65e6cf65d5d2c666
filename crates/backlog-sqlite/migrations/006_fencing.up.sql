-- Fencing by execution: every claim draws a random 128-bit lease token (randomblob(16)) that
-- every later write of that execution must present. Kept after the outcome so a retried write
-- of the same execution is recognised as already applied; cleared by a rescue.
ALTER TABLE backlog_job ADD COLUMN lease_token BLOB;
