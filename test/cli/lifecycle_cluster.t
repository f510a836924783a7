#!/usr/bin/env bash
# The expiry worker and durability, on a cluster of its own started with the
# library in shared_preload_libraries: expired sessions are ended by the
# worker within a few intervals, a failing run is retried, sessions survive
# a restart.
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
plan 21

pgc_init "$SA_TEST_DIR/lifecycle_cluster"
PGC_BIN=$(dirname "$(command -v postgres)")
pgc_start "shared_preload_libraries = 'session_analytics'" \
          "session_analytics.expiry_interval = 1" \
          "session_analytics.database = 'postgres'"
ok $? "cluster with the library preloaded starts"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

q -c "CREATE EXTENSION session_analytics" >/dev/null
is "$(q -c "SHOW session_analytics.expiry_interval")" "1s" "expiry_interval is set"
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'session_analytics expiry' AND datname = 'postgres'")" "1" \
   "one expiry worker connected to session_analytics.database"

# Sessions that expire two seconds from now, and one that does not.
tkey=$(q -c "SELECT sessions.create_session('Car1', valid_until => now() + interval '2 seconds')")
ref=$(q -c "SELECT sessions.open_session('online', interval '2 seconds')")
keep=$(q -c "SELECT sessions.create_session('Car1', identifier => 'durable', details => '{\"track\": \"Silverstone\"}')")
oref=$(q -c "SELECT sessions.open_session('batch', reference => 'durable-ref')")
stored() { q -c "SELECT string_agg(status, ',' ORDER BY kind) FROM sessions.store WHERE session_key = '$tkey' OR external_id = '$ref'"; }
is "$(stored)" "OPEN,LIVE" "stored open before valid_until"
for _ in $(seq 1 40); do [ "$(stored)" = "EXPIRED,EXPIRED" ] && break; sleep 0.25; done
is "$(stored)" "EXPIRED,EXPIRED" "the worker wrote both sessions as EXPIRED within a few intervals"
is "$(q -c "SELECT ended_at = valid_until FROM sessions.store WHERE session_key = '$tkey'")" "t" \
   "telemetry termination_time = valid_until"
is "$(q -c "SELECT sessions.session_status('$ref') -> 'status' ->> 'code'")" "440" "invoice-style session is 440"
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$keep'")" "LIVE" "a session without valid_until is untouched"

# A failing run is logged and retried; the worker stays up.
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'session_analytics expiry'")
q -c "ALTER FUNCTION sessions.maintenance() RENAME TO maintenance_off" >/dev/null
sleep 2.5
like "$(cat "$PGC_DIR/server.log")" 'function sessions.maintenance\(\) does not exist' "a failing run is logged"
q -c "ALTER FUNCTION sessions.maintenance_off() RENAME TO maintenance" >/dev/null
is "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'session_analytics expiry'")" "$pid" \
   "the worker survives a failing run"
late=$(q -c "SELECT sessions.create_session('Car2', valid_until => now() + interval '1 second')")
for _ in $(seq 1 40); do [ "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$late'")" = EXPIRED ] && break; sleep 0.25; done
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$late'")" "EXPIRED" "and expires sessions again afterwards"

# SIGHUP: expiry_interval = 0 pauses the worker, a reload resumes it at once.
q -c "ALTER SYSTEM SET session_analytics.expiry_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
paused=$(q -c "SELECT sessions.create_session('Car3', valid_until => now() + interval '500 milliseconds')")
sleep 2
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$paused'")" "LIVE" "a paused worker leaves the row alone"
is "$(q -c "SELECT sessions.session_info('$paused') ->> 'status'")" "EXPIRED" "while reads already see it expired"
q -c "ALTER SYSTEM RESET session_analytics.expiry_interval" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 20); do [ "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$paused'")" = EXPIRED ] && break; sleep 0.25; done
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$paused'")" "EXPIRED" "after a reload the worker runs again"

# Durable across a restart (the Stream API's in-memory store is not).
before=$(q -c "SELECT sessions.session_info('$keep') - 'duration'")
pgc_restart
ok $? "server restarted"
is "$(q -c "SELECT sessions.session_info('$keep') - 'duration'")" "$before" "telemetry session unchanged after the restart"
is "$(q -c "SELECT sessions.session_status('$oref') -> 'status' ->> 'code'")" "100" "invoice-style session still open after the restart"

# Dump and restore: sessions, associations and secrets come back; the signing
# key is new, so state documents issued before are refused.
child=$(q -c "SELECT sessions.create_session('Car4')")
q -c "SELECT sessions.add_associate_session('$keep', '$child')" -c "SELECT sessions.set_session_secret('$oref', '\\x0102')" >/dev/null
state=$(q -c "SELECT sessions.session_state('$oref')")
pg_dump -Fc -d postgres -f "$SA_TEST_DIR/lifecycle.dump" && psql -X -q -d postgres -c "CREATE DATABASE restored" &&
    pg_restore -d restored --exit-on-error "$SA_TEST_DIR/lifecycle.dump"
ok $? "dump restored into a new database"
r() { psql -X -At -d restored "$@"; }
is "$(r -c "SELECT sessions.associates('$keep')")" "$child" "associations restored"
is "$(r -c "SELECT encode(sessions.session_secret('$oref'), 'hex')")" "0102" "secrets restored"
like "$(r -c "SELECT sessions.resume_session('$state')" 2>&1)" "signature does not match" "a state document from before the restore is refused"
pgc_stop

