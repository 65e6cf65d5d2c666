-- Opens a transaction as one message of a pipeline (src/insert_fetch.rs).
BEGIN
