#!/usr/bin/env bash
# The background workers across ALTER EXTENSION ... UPDATE, on a cluster of
# its own with the library preloaded: 0.1.0 installed, the notifier
# delivering and the expiry worker expiring; the update runs (held open for a
# while, writers waiting on it); afterwards the same two worker processes
# (no restart) deliver every event once and in order, and expire sessions.
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
. "$(dirname "$0")/lib/common.sh"
WRITER_EVERY=1   # a pause after every session: the update must meet writes in flight
plan 13

pgc_init "$SA_TEST_DIR/upgrade_workers"
rm -f "$PGC_DIR/server.log"
PGC_BIN=$(dirname "$(command -v postgres)")
pgc_start "shared_preload_libraries = 'session_analytics'" \
          "session_analytics.expiry_interval = 1" \
          "session_analytics.database = 'postgres'"
ok $? "cluster with the library preloaded starts"
T=$PGC_DIR/t
mkdir -p "$T"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION session_analytics VERSION '0.1.0'" >/dev/null
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SA_SRC/session_analytics.control")

# wait_for SQL WANT: until SQL returns WANT (15 s at most).
wait_for() {
    local i
    for i in $(seq 1 150); do
        [ "$(q -c "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
worker_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = '$1'"; }

wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "0.1.0 with the current library: the notifier delivers"
npid=$(worker_pid "session_analytics notifier")
epid=$(worker_pid "session_analytics expiry")
ok "$([ -n "$npid" ] && [ -n "$epid" ]; echo $?)" "both workers run (notifier $npid, expiry $epid)"

# Listener: every notification on the global channels, one line each
# (test/cli/lib/listen.py), until the marker channel; 60 s of silence fail it.
rm -f "$T/l.ready"
/usr/bin/python3 "$SA_SRC/test/cli/lib/listen.py" "$T/l" "sessions_start_done" 60 & LP=$!
for _ in $(seq 1 100); do [ -e "$T/l.ready" ] && break; sleep 0.05; done
h0=$(q -c "SELECT sessions.events_head()")

# Before the update: an expiring session is expired.
k1=$(q -c "SELECT sessions.create_session('car', valid_until => now() + interval '1 second')")
wait_for "SELECT status FROM sessions.store WHERE session_key = '$k1'" EXPIRED
ok $? "before the update the expiry worker expires a session"

# The update, held open for 3 s while writers queue behind its locks; a
# session falls due meanwhile. (Calls of the extension's functions that
# start before the update commits may fail once it has dropped or replaced
# what they call, like any DDL under a running query: the writers here use
# plain INSERT/UPDATE, the session is created before.)
writer before 20
k2=$(q -c "SELECT sessions.create_session('car', valid_until => now() + interval '2 seconds')")
( q -c "BEGIN" -c "ALTER EXTENSION session_analytics UPDATE" -c "SELECT pg_sleep(3)" -c "COMMIT" >"$T/update.out" 2>&1; echo $? >"$T/update.rc" ) &
UP=$!
sleep 0.5
writer during 20 & W=$!
wait $UP
is "$(cat "$T/update.rc"):$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "0:$current" \
   "ALTER EXTENSION UPDATE commits with the workers running"
wait $W
writer after 20

wait_for "SELECT status FROM sessions.store WHERE session_key = '$k2'" EXPIRED
ok $? "after the update the expiry worker expires a session that fell due while it ran"
k3=$(q -c "SELECT sessions.create_session('car', valid_until => now() + interval '1 second')")
wait_for "SELECT status FROM sessions.store WHERE session_key = '$k3'" EXPIRED
ok $? "and one created after it"

hb=$(q -c "SELECT sessions.events_head()")
wait_for "SELECT delivered_seq >= $hb FROM sessions.notify_status()" t
ok $? "the notifier delivers past every event logged before, during and after the update"
q -c "INSERT INTO sessions.store (kind, namespace, status) VALUES ('telemetry', 'done', 'LIVE')" >/dev/null
wait $LP
ok $? "the listener got every notification up to its marker"

# Every event after h0 once, in seq order, all sent by the notifier.
got=$(/usr/bin/python3 -c '
import json, sys
seqs = []
for line in open(sys.argv[1]):
    channel, pid, text = line.rstrip("\n").split("\t", 2)
    p = json.loads(text)
    if channel == "sessions_start_done":
        continue
    if channel not in ("sessions_start", "sessions_stop") or "first_seq" in p:
        print("unexpected: " + line); sys.exit()
    if p["namespace"] in ("online", "car"):
        seqs.append(p["seq"])
print(" ".join(map(str, seqs)))' "$T/l")
want=$(q -c "SELECT string_agg(seq::text, ' ' ORDER BY seq) FROM sessions.event_log WHERE seq > $h0 AND namespace IN ('online', 'car')")
is "$got" "$want" "every event of the writers and the expiries delivered once, in order, across the update"
is "$(cut -f2 "$T/l" | sort -u)" "$npid" "all by the notifier that ran before the update"
is "$(worker_pid "session_analytics notifier") $(worker_pid "session_analytics expiry")" "$npid $epid" \
   "neither worker restarted"
# While the update ran the workers waited for it instead of running the
# old SQL against a half-replaced catalog (0.1.0's expire_sessions() names
# a function the update drops: "cache lookup failed").
is "$(grep -E "\[($npid|$epid)\] (ERROR|FATAL|PANIC)" "$PGC_DIR/server.log" | head -5)" "" \
   "neither worker logged an error during or after the update"
pgc_stop
