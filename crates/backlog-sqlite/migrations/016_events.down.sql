DROP TABLE backlog_event;
