DROP TABLE backlog_worker;
