-- After the history fill and its VACUUM (src/bench.rs): write the fill's dirty pages and start
-- a new WAL segment, as the checkpoints spread over the day the history stands for would have.
-- Without it the first measurements beside the history run under the checkpoint that the fill's
-- gigabytes of WAL force. Needs a superuser or the pg_checkpoint role.
CHECKPOINT
