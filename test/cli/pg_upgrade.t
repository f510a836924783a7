#!/usr/bin/env bash
# pg_upgrade with the library preloaded in both clusters: while pg_upgrade
# runs the servers in binary-upgrade mode the background workers must not
# run (they would write into a catalog being restored); afterwards the new
# cluster has the extension at the version it had, with its rows, the
# workers start, and ALTER EXTENSION UPDATE moves it on.
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
plan 8

pgc_init "$SA_TEST_DIR/pg_upgrade"
PGC_BIN=$(dirname "$(command -v postgres)")
preload=("shared_preload_libraries = 'session_analytics'" "session_analytics.expiry_interval = 1"
         "session_analytics.database = 'postgres'")
pgc_start "${preload[@]}"
ok $? "old cluster with the library preloaded starts"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SA_SRC/session_analytics.control")
q -c "CREATE EXTENSION session_analytics VERSION '0.1.0'" \
  -c "SELECT sessions.open_session('online', '100 years', 'KEEP-1')" \
  -c "SELECT sessions.create_session('car', identifier => 'kept')" >/dev/null
before=$(q -c "SELECT string_agg(kind || ':' || status, ',' ORDER BY kind) FROM sessions.store")
pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -m fast -w stop >/dev/null
PGC_RUNNING=

NEW=$PGC_DIR/data_new
rm -rf "$NEW"
pgc_as "$PGC_BIN/initdb" -D "$NEW" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1
{
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$PGC_SOCK'"
    echo "max_worker_processes = 16"
    for c in "${preload[@]}"; do echo "$c"; done
} | pgc_as tee -a "$NEW/postgresql.conf" >/dev/null
out=$(cd "$PGC_DIR" && pgc_as "$PGC_BIN/pg_upgrade" -b "$PGC_BIN" -B "$PGC_BIN" -d "$PGC_DATA" -D "$NEW" \
        -U postgres -s "$PGC_SOCK" -p 50432 -P 50433 --retain 2>&1)
rc=$?
ok $rc "pg_upgrade succeeds with the library preloaded"
[ $rc -ne 0 ] && sed 's/^/# /' <<<"$out" | tail -20
logs=$(cat "$NEW"/pg_upgrade_output.d/*/log/pg_upgrade_server.log 2>/dev/null)
like "$logs" "binary_upgrade|pg_upgrade|database system is ready" "pg_upgrade's server log was kept (--retain)"
unlike "$logs" "session_analytics (expiry worker started|notifier delivering|notifier:|expiry worker:)" \
   "no worker ran while the servers were in binary-upgrade mode"

PGC_DATA=$NEW
pgc_as "$PGC_BIN/pg_ctl" -D "$NEW" -l "$PGC_DIR/server_new.log" -w -t 60 start >/dev/null
PGC_RUNNING=1
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "0.1.0" \
   "the new cluster has the extension at the version it had"
is "$(q -c "SELECT string_agg(kind || ':' || status, ',' ORDER BY kind) FROM sessions.store")" "$before" \
   "and its rows"
for _ in $(seq 1 50); do
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'session_analytics%'")" = 2 ] && break
    sleep 0.1
done
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'session_analytics%'")" "2" \
   "started normally, the new cluster runs both workers"
q -c "ALTER EXTENSION session_analytics UPDATE" >/dev/null
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "$current" \
   "ALTER EXTENSION UPDATE then moves it to $current"
pgc_stop
