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
. "$(dirname "$0")/lib/cluster.sh"
plan 33

cluster_start notifier_faults "session_analytics.database = 'postgres'" "restart_after_crash = on"
ok $? "cluster with the library preloaded starts"
WRITER_ERR=/dev/null   # writers run through crashes and restarts
q -c "CREATE EXTENSION session_analytics" >/dev/null

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
# burst_start TAG: h = the head, session-listen printing to $T/TAG1 from it,
# then two writers (TAG1, TAG2: 60 sessions each, W1 W2) in full flow.
burst_start() {
    h=$(q -c "SELECT sessions.events_head()")
    sl_start "$T/${1}1" "$h"
    sleep 0.5
    writer "${1}1" 60 & W1=$!
    writer "${1}2" 60 & W2=$!
    sleep 0.7
}

wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "the notifier delivers"
q -c "CREATE ROLE nf_tenant LOGIN IN ROLE session_analytics_writer" >/dev/null
marker first
wait_for "SELECT delivered_seq FROM sessions.notify_status()" 1
is "$(psql -X -At -U nf_tenant -d postgres -c "SELECT mode || ',' || (notifier_pid IS NOT NULL) || ',' || coalesce(delivered_seq::text, 'NULL') FROM sessions.notify_status()")" \
   "worker,true,NULL" "a tenant sees the mode and the notifier, not the delivered seq (the global event count)"

# --- (a) extension recreated under a running notifier ------------------------------
listen_round a0 a0 30
is "$(check "$T/a0" 1)" ok "before: every event once, in order"
old=$(q -c "SELECT delivered_seq FROM sessions.notify_status()")
q -c "BEGIN" -c "DROP EXTENSION session_analytics CASCADE" -c "CREATE EXTENSION session_analytics" -c "COMMIT" >/dev/null
ok $? "DROP EXTENSION ... CASCADE; CREATE EXTENSION in one transaction"
listen_round a1 a1 10
ok $? "after recreating in one transaction: the listener hears the new log's events (old position $old)"
is "$(check "$T/a1" 0)" ok "the new log from seq 1: every event once, in order"
like "$(cat "$PGC_DIR/server.log")" "the event log was recreated" "the notifier says it moved to the new log"
q -c "DROP EXTENSION session_analytics CASCADE" >/dev/null
sleep 0.5
q -c "CREATE EXTENSION session_analytics" >/dev/null
listen_round a2 a2 10
is "$(check "$T/a2" 0)" ok "recreated in two transactions: the new log's events once, in order"
q -c "DROP EXTENSION session_analytics CASCADE" -c "CREATE EXTENSION session_analytics" >/dev/null
writer a3 2
wait_for "SELECT delivered_seq FROM sessions.notify_status()" 4
ok $? "dropped and created again between two rounds (no round saw it missing): delivered from the new log's start"

# The log emptied and its sequence restarted: the position is above the sequence.
q -c "TRUNCATE sessions.event_log" -c "ALTER SEQUENCE sessions.event_seq RESTART" >/dev/null
listen_round a4 a4 5
ok $? "log emptied and sequence restarted: the listener hears the new events"
is "$(check "$T/a4" 0)" ok "from seq 1, every event once, in order"
restarts=$(grep -c "delivering the event log from its start" "$PGC_DIR/server.log")

# --- (d) the notifier's own read of the log (C, by the primary key) -----------------
# A transaction that took a seq and commits late: the events after it wait
# for it (the snapshot's xmin has not passed their horizons), then all
# arrive once and in seq order; nothing is delivered past the open event.
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/d1" done_d1
q -c "BEGIN" -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'LATE1', 'ACTIVE')" \
  -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null & HOLD=$!
sleep 0.3
writer d1 10
sleep 0.5
kill -0 $HOLD 2>/dev/null
ok $? "(the late transaction is still open)"
is "$(grep -c . "$T/d1")" 0 "an open transaction's event holds back every later event: nothing delivered past it"
wait $HOLD
marker done_d1
wait $LP
is "$(check "$T/d1" "$h")" ok "after it commits: its event and the later ones once, in seq order"
# A transaction holding an xid but writing no event keeps the snapshot's
# xmin back; the notifier's SQL path (the exact bound) still delivers.
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/d2" done_d2
LP2=$LP
q -c "BEGIN" -c "SELECT pg_current_xact_id()" -c "SELECT pg_sleep(5)" -c "COMMIT" >/dev/null & HOLD=$!
sleep 0.3
listen_round d2x d2 5
ok $? "an open transaction that writes no event does not hold delivery back"
kill -0 $HOLD 2>/dev/null
ok $? "(delivered while it was still open)"
marker done_d2
wait $LP2
is "$(check "$T/d2" "$h")" ok "every event once, in order"
wait $HOLD
# The primary key dropped (the notifier reads through SQL meanwhile) and
# created again (a new index OID): nothing lost, nothing twice.
h=$(q -c "SELECT sessions.events_head()")
listen_start "$T/d3" done_d3
writer d3a 5
q -c "ALTER TABLE sessions.event_log DROP CONSTRAINT event_log_pkey" >/dev/null
writer d3b 5
q -c "ALTER TABLE sessions.event_log ADD CONSTRAINT event_log_pkey PRIMARY KEY (seq)" >/dev/null
writer d3c 5
marker done_d3
wait $LP
ok $? "primary key dropped and created again under the notifier: the listener got the marker"
is "$(check "$T/d3" "$h")" ok "every event once, in order, across the index change"
# The log emptied, its sequence not restarted: the position's row is gone,
# the notifier carries on after it (no restart from seq 1).
q -c "TRUNCATE sessions.event_log" >/dev/null
h=$(q -c "SELECT last_value FROM sessions.event_seq")
listen_round d4 d4 5
ok $? "log emptied (sequence kept): the listener hears the new events"
is "$(check "$T/d4" "$h")" ok "the new events once, in order"
is "$(grep -c "delivering the event log from its start" "$PGC_DIR/server.log")" "$restarts" \
   "no restart of delivery from seq 1 for a log emptied without restarting its sequence"

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
burst_start k
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
listen_round k2 k4 20
is "$(check "$T/k2" "$h")" ok "after the crash restart: a new LISTEN client gets every event once, in order"

# --- (c) the whole cluster restarted mid-burst ----------------------------------------
burst_start r
pgc_restart
wait $W1 $W2
wait_for "SELECT mode FROM sessions.notify_status()" worker
ok $? "cluster restart: the notifier delivers again"
writer r3 10
marker done_r1
sl_stop_at_marker "$T/r1" done_r1
is "$(check_printed "$T/r1" "$h")" ok "restart mid-burst: every committed event printed once, in order"
h=$(q -c "SELECT sessions.events_head()")
listen_round r2 r4 20
is "$(check "$T/r2" "$h")" ok "after the restart: a new LISTEN client gets every event once, in order"
pgc_stop
