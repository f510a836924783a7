-- session_analytics: the notifier's status (src/notify_worker.c).
--
-- With the library in shared_preload_libraries a background worker sends
-- the event notifications of session_analytics.database, so writers never
-- take the NOTIFY lock (session_analytics.notify_mode, docs/notifications.md).

CREATE FUNCTION sessions.notify_status(OUT mode text, OUT notifier_pid int, OUT delivered_seq bigint)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'sa_notify_status';
COMMENT ON FUNCTION sessions.notify_status() IS
  'Who notifies this database''s events now (commit, worker or off), the notifier''s pid, and the last seq it delivered here';

REVOKE ALL ON FUNCTION sessions.notify_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.notify_status() TO session_analytics_reader, session_analytics_writer;
