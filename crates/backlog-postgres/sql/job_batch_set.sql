-- Makes jobs $2, inserted in this transaction, members of batch $1.
UPDATE backlog_job SET batch_id = $1::bigint WHERE id = ANY ($2::bigint[])
