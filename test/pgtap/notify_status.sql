-- sessions.notify_status() and session_analytics.notify_mode on a server
-- without shared_preload_libraries: no notifier, writers notify at commit
-- (the notifier itself: test/cli/notifier_cluster.t).
BEGIN;
SELECT plan(7);

SELECT is((SELECT mode FROM sessions.notify_status()), 'commit', 'no notifier: commit mode');
SELECT ok((SELECT notifier_pid IS NULL AND delivered_seq IS NULL FROM sessions.notify_status()),
          'no notifier pid, no delivered seq');
SELECT is(current_setting('session_analytics.notify_mode'), 'auto', 'notify_mode defaults to auto');
SET LOCAL session_analytics.notify = off;
SELECT is((SELECT mode FROM sessions.notify_status()), 'off', 'notify = off: mode off');
RESET session_analytics.notify;
SELECT throws_ok($$SET session_analytics.notify_mode = 'worker'$$, '55P02', NULL,
                 'notify_mode cannot be set per session');
SELECT throws_ok($$SELECT set_config('session_analytics.notify_mode', 'commit', true)$$, '55P02', NULL,
                 'nor with set_config');
SET LOCAL ROLE session_analytics_reader;
SELECT is((SELECT mode FROM sessions.notify_status()), 'commit', 'readers may call notify_status()');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
