-- Saves the caller's search_path and points it at Backlog's schema ($1), for an insert on the
-- caller's own connection. Undone by search_path_leave.sql.
SELECT set_config('backlog.saved_search_path', current_setting('search_path'), false),
       set_config('search_path', $1::text, false)
