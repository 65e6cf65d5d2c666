-- The wake-up task's session: notifications are hints, nothing to wait for a flush for.
SET synchronous_commit = off
