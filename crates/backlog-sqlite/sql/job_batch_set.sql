-- Makes jobs :ids (a JSON array), inserted in this transaction, members of batch :batch.
UPDATE backlog_job SET batch_id = :batch WHERE id IN (SELECT value FROM json_each(:ids))
