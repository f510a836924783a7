#!/usr/bin/env bash
# Faults under the notifier (worker mode), on a cluster of its own: the
# extension recreated under a running notifier (in one transaction and in
# two), the notifier terminated (SIGTERM) and killed (SIGKILL: the postmaster
# restarts every backend) in the middle of a burst of writes, and the whole
# cluster restarted mid-burst. Each asserts that every committed event is
# delivered exactly once and in seq order: to a plain LISTEN client while its
# connection lives, and printed by session-listen across the restarts.
# (Listener-side faults -- a long transaction, a killed listener connection --
# are in test/cli/listen_faults.t.)
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
plan 22

pgc_init "$SA_TEST_DIR/notifier_faults"
rm -f "$PGC_DIR/server.log"   # the log of an earlier run would satisfy the checks
PGC_BIN=$(dirname "$(command -v postgres)")
pgc_start "shared_preload_libraries = 'session_analytics'" \
          "session_analytics.database = 'postgres'" "restart_after_crash = on"
ok $? "cluster with the library preloaded starts"
T=$PGC_DIR/t
mkdir -p "$T"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION session_analytics" >/dev/null

wait_for() { # SQL WANT: until SQL returns WANT (20 s at most)
    local i
    for i in $(seq 1 200); do
        [ "$(q -c "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
notifier_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'session_analytics notifier'"; }

# Plain LISTEN client: global channels and a marker channel; one line per
# notification "channel<TAB>pid<TAB>payload" until the marker.
cat >"$T/listen.py" <<'PY'
import select, sys, psycopg2
conn = psycopg2.connect("dbname=postgres"); conn.autocommit = True
cur = conn.cursor()
for ch in ("sessions_start", "sessions_stop", sys.argv[2]):
    cur.execute('LISTEN "%s"' % ch)
out = open(sys.argv[1], "w")
open(sys.argv[1] + ".ready", "w").close()
while True:
    if select.select([conn], [], [], 20) == ([], [], []):
        sys.exit("timed out")
    conn.poll()
    while conn.notifies:
        n = conn.notifies.pop(0)
        out.write("%s\t%d\t%s\n" % (n.channel, n.pid, n.payload)); out.flush()
        if n.channel == sys.argv[2]:
            sys.exit(0)
PY
listen_start() { # OUT MARKER_NS
    rm -f "$1.ready"
    /usr/bin/python3 "$T/listen.py" "$1" "sessions_start_$2" &
    LP=$!
    for _ in $(seq 1 100); do [ -e "$1.ready" ] && break; sleep 0.05; done
}
marker() { q -c "INSERT INTO sessions.store (kind, namespace, status) VALUES ('telemetry', '$1', 'LIVE')" >/dev/null; }
writer() { # TAG N: N sessions started and ended, one transaction each
    local i
    for i in $(seq 1 "$2"); do
        echo "INSERT INTO sessions.store (kind, namespace, external_id, status, started_at) VALUES ('invoice', 'online', '$1-$i', 'OPEN', clock_timestamp());"
        [ $((i % 10)) -eq 0 ] && echo "SELECT pg_sleep(0.02);"
        echo "UPDATE sessions.store SET status = 'CLOSED', ended_at = clock_timestamp() WHERE external_id = '$1-$i';"
    done | psql -X -q -d postgres -o /dev/null 2>/dev/null
}
# check OUT AFTER_SEQ: the plain listener's notifications on the global
# channels against the log after AFTER_SEQ (ranges stand for their events).
cat >"$T/check.py" <<'PY'
import json, sys, psycopg2
cur = psycopg2.connect("dbname=postgres").cursor()
cur.execute("SELECT e.seq, e.event, sessions.event_payload(e)::text FROM sessions.event_log e"
            " WHERE e.seq > %s ORDER BY e.seq", (int(sys.argv[2]),))
log = cur.fetchall()
payload = {s: p for s, _, p in log}
got, singles, bad = [], [], []
for line in open(sys.argv[1]):
    channel, pid, text = line.rstrip("\n").split("\t", 2)
    if channel not in ("sessions_start", "sessions_stop"):
        continue
    p = json.loads(text)
    if "first_seq" in p:
        got += [s for s, ev, _ in log if p["first_seq"] <= s <= p["last_seq"] and ev == p["event"]]
    else:
        got.append(p["seq"]); singles.append(p["seq"])
        if payload.get(p["seq"]) != text:
            bad.append(p["seq"])
if sorted(got) != [s for s, _, _ in log]:
    print("not once: %d delivered, %d logged" % (len(got), len(log)))
elif singles != sorted(set(singles)):
    print("out of order")
elif bad:
    print("payload differs for seq %s" % bad[:5])
else:
    print("ok")
PY
check() { /usr/bin/python3 "$T/check.py" "$1" "$2"; }
# check_printed OUT AFTER_SEQ: session-listen's lines against the log: every
# start/stop event after AFTER_SEQ printed once, in seq order.
cat >"$T/check_printed.py" <<'PY'
import json, sys, psycopg2
cur = psycopg2.connect("dbname=postgres").cursor()
cur.execute("SELECT e.seq FROM sessions.event_log e WHERE e.seq > %s AND e.event IN ('start', 'stop') ORDER BY e.seq",
            (int(sys.argv[2]),))
log = [r[0] for r in cur.fetchall()]
got = [json.loads(l)["seq"] for l in open(sys.argv[1]) if l.strip()]
if got == log:
    print("ok")
elif sorted(set(got)) == log:
    print("all once but %d duplicates or out of order" % (len(got) - len(set(got))))
else:
    print("printed %d, logged %d, missing %s, extra %s" % (len(got), len(log), sorted(set(log) - set(got))[:5], sorted(set(got) - set(log))[:5]))
PY
check_printed() { /usr/bin/python3 "$T/check_printed.py" "$1" "$2"; }
# session-listen in the background, printing to OUT from AFTER_SEQ (it
# reconnects and catches up by itself; a 2 s idle poll bounds the wait for a
# notification it may have read while a catch-up query ran).
sl_start() { # OUT AFTER_SEQ
    session-listen --from="$2" --state="$1.state" --poll=2 >"$1" 2>"$1.err" &
    SP=$!
}
sl_stop_at_marker() { # OUT MARKER_NS: waits (30 s at most) for the marker line, stops it
    local i
    for i in $(seq 1 300); do grep -q "\"namespace\":\"$2\"" "$1" && break; sleep 0.1; done
    kill -TERM $SP; wait $SP 2>/dev/null
    grep -q "\"namespace\":\"$2\"" "$1"
}

wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "the notifier delivers"
q -c "CREATE ROLE nf_tenant LOGIN IN ROLE session_analytics_writer" >/dev/null
marker first
wait_for "SELECT delivered_seq FROM sessions.notify_status()" 1
is "$(psql -X -At -U nf_tenant -d postgres -c "SELECT mode || ',' || (notifier_pid IS NOT NULL) || ',' || coalesce(delivered_seq::text, 'NULL') FROM sessions.notify_status()")" \
   "worker,true,NULL" "a tenant sees the mode and the notifier, not the delivered seq (the global event count)"

# --- (a) extension recreated under a running notifier ------------------------------
listen_start "$T/a0" done_a0
writer a0 30
marker done_a0
wait $LP
is "$(check "$T/a0" 1)" ok "before: every event once, in order"
old=$(q -c "SELECT delivered_seq FROM sessions.notify_status()")
q -c "BEGIN" -c "DROP EXTENSION session_analytics CASCADE" -c "CREATE EXTENSION session_analytics" -c "COMMIT" >/dev/null
ok $? "DROP EXTENSION ... CASCADE; CREATE EXTENSION in one transaction"
listen_start "$T/a1" done_a1
writer a1 10
marker done_a1
wait $LP
ok $? "after recreating in one transaction: the listener hears the new log's events (old position $old)"
is "$(check "$T/a1" 0)" ok "the new log from seq 1: every event once, in order"
like "$(cat "$PGC_DIR/server.log")" "the event log was recreated" "the notifier says it moved to the new log"
q -c "DROP EXTENSION session_analytics CASCADE" >/dev/null
sleep 0.5
q -c "CREATE EXTENSION session_analytics" >/dev/null
listen_start "$T/a2" done_a2
writer a2 10
marker done_a2
wait $LP
is "$(check "$T/a2" 0)" ok "recreated in two transactions: the new log's events once, in order"
q -c "DROP EXTENSION session_analytics CASCADE" -c "CREATE EXTENSION session_analytics" >/dev/null
writer a3 2
wait_for "SELECT delivered_seq FROM sessions.notify_status()" 4
ok $? "dropped and created again between two rounds (no round saw it missing): delivered from the new log's start"

# The log emptied and its sequence restarted: the position is above the sequence.
q -c "TRUNCATE sessions.event_log" -c "ALTER SEQUENCE sessions.event_seq RESTART" >/dev/null
listen_start "$T/a4" done_a4
writer a4 5
marker done_a4
wait $LP
ok $? "log emptied and sequence restarted: the listener hears the new events"
is "$(check "$T/a4" 0)" ok "from seq 1, every event once, in order"

# --- (b) the notifier terminated (SIGTERM) mid-burst --------------------------------
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/b1" done_b1
npid=$(notifier_pid)
writer b1 40 & W1=$!
writer b2 40 & W2=$!
for _ in $(seq 1 100); do [ "$(wc -l <"$T/b1")" -ge 30 ] && break; sleep 0.05; done
pgc_as kill -TERM "$npid"
wait $W1 $W2
for _ in $(seq 1 100); do n2=$(notifier_pid); [ -n "$n2" ] && [ "$n2" != "$npid" ] && break; sleep 0.1; done
marker done_b1
wait $LP
ok $? "SIGTERM: the listener got the marker"
is "$(check "$T/b1" "$h")" ok "SIGTERM mid-burst: every event once, in order (the new notifier resumes after the last delivered seq)"

# --- (b) the notifier killed (SIGKILL): the postmaster restarts every backend --------
h=$(q -c "SELECT sessions.events_head()")
sl_start "$T/k1" "$h"
sleep 0.5
writer k1 60 & W1=$!
writer k2 60 & W2=$!
sleep 0.7
kpid=$(notifier_pid)
pgc_as kill -KILL "$kpid"
wait $W1 $W2
for _ in $(seq 1 300); do n2=$(notifier_pid 2>/dev/null); [ -n "$n2" ] && [ "$n2" != "$kpid" ] && break; sleep 0.1; done
wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "SIGKILL: after the crash restart the notifier delivers again"
writer k3 10
marker done_k1
sl_stop_at_marker "$T/k1" done_k1
ok $? "session-listen printed the marker after the crash restart"
is "$(check_printed "$T/k1" "$h")" ok "SIGKILL mid-burst: every committed event printed once, in order"
like "$(cat "$PGC_DIR/server.log")" "terminated by signal 9" "the kill was a crash for the postmaster"
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/k2" done_k2
writer k4 20
marker done_k2
wait $LP
is "$(check "$T/k2" "$h")" ok "after the crash restart: a new LISTEN client gets every event once, in order"

# --- (c) the whole cluster restarted mid-burst ----------------------------------------
h=$(q -c "SELECT sessions.events_head()")
sl_start "$T/r1" "$h"
sleep 0.5
writer r1 60 & W1=$!
writer r2 60 & W2=$!
sleep 0.7
pgc_restart
wait $W1 $W2
wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "cluster restart: the notifier delivers again"
writer r3 10
marker done_r1
sl_stop_at_marker "$T/r1" done_r1
is "$(check_printed "$T/r1" "$h")" ok "restart mid-burst: every committed event printed once, in order"
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/r2" done_r2
writer r4 20
marker done_r2
wait $LP
is "$(check "$T/r2" "$h")" ok "after the restart: a new LISTEN client gets every event once, in order"
pgc_stop
