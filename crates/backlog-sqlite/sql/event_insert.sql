-- One signal for the other processes sharing the file (src/notify.rs, migrations/016_events),
-- written in the transaction of the change it announces.
INSERT INTO backlog_event (origin, kind, subject) VALUES (?1, ?2, ?3)
