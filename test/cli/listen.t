#!/usr/bin/env bash
# session-listen against the live server: concurrent writers, the listener's
# connection killed mid-stream, restart from the state file, filters, --exec,
# usage errors; and a third-party client (psycopg2) receiving the NOTIFYs.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib/common.sh"
plan 27

listen_db listen_t
CONN="dbname=$DB application_name=sl_test"
WRITER_PAUSE=0.01


# --- exactly once and in order across a killed connection -----------------
session-listen -d "$CONN" --state "$T/state" >"$T/out" 2>"$T/err" &
LP=$!
sleep 0.5
writer a 150 & W1=$!
writer b 150 & W2=$!
writer c 150 & W3=$!
wait_lines "$T/out" 60
killed=$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sl_test'")
is "$killed" 1 "the listener's connection was terminated mid-stream"
wait_lines "$T/out" 400
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sl_test'" >/dev/null
wait $W1 $W2 $W3
total=$(q "SELECT count(*) FROM sessions.event_log")
is "$total" 900 "900 events logged by three concurrent writers"
wait_lines "$T/out" "$total"
kill -TERM $LP; wait $LP
ok $? "listener exits cleanly on SIGTERM"
is "$(wc -l <"$T/out")" "$total" "every event printed"
got=$(sed -E 's/^\{"seq":([0-9]+),.*/\1/' "$T/out" | tr '\n' ' ')
want=$(q "SELECT seq FROM sessions.event_log ORDER BY seq" | tr '\n' ' ')
is "$got" "$want" "exactly once and in seq order, though commits interleave and the connection dropped twice"
like "$(cat "$T/err")" "reconnected, resumed after seq" "reconnect reported on stderr"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$T/out"
ok $? "every line is JSON"
is "$(cat "$T/state")" "$(q "SELECT max(seq) FROM sessions.event_log")" "state file holds the last seq printed"

# --- restart from the state file -----------------------------------------------
writer d 5
session-listen -d "$CONN" --state "$T/state" --count 10 >"$T/out2" 2>>"$T/err"
ok $? "restart with --state and --count"
is "$(sed -E 's/^\{"seq":[0-9]+,"event":"([a-z]+)".*"external_id":"([^"]+)".*/\1 \2/' "$T/out2" | head -3 | tr '\n' ',')" \
   "start d-1,stop d-1,start d-2," "replays what happened while stopped, from where it left off"

# --- filters and --exec ---------------------------------------------------------
head=$(q "SELECT sessions.events_head()")
session-listen -d "$CONN" --party nl-tnm --event stop --from "$head" --count 2 \
    --exec "cat >>'$T/exec'" >"$T/out3" 2>>"$T/err" &
LP=$!
sleep 0.3
q "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'F1', 'ACTIVE'), ('ocpi', 'BE-BEC', 'F2', 'ACTIVE')"
q "UPDATE sessions.store SET status = 'COMPLETED' WHERE external_id IN ('F1', 'F2')"
q "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'F3', 'INVALID')"
wait $LP
ok $? "filtered listener ends after --count events"
is "$(sed -E 's/.*"event":"([a-z]+)".*"namespace":"([^"]+)".*"external_id":"([^"]+)".*/\1 \2 \3/' "$T/out3" | tr '\n' ',')" \
   "stop NL-TNM F1,stop NL-TNM F3," "--party and --event: only NL-TNM stops"
is "$(cat "$T/exec")" "$(cat "$T/out3")" "--exec got each payload on stdin"

session-listen --party nope 2>/dev/null; is $? 2 "bad --party is a usage error"
session-listen --event begin 2>/dev/null; is $? 2 "bad --event is a usage error"
# Numeric options: whole numbers in range or a usage error naming the range
# (--poll=4294968 used to wrap to a 704 ms poll).
out=$(session-listen --poll=4294968 2>&1); rc=$?
is "$rc/$out" '2/session-listen: invalid --poll "4294968": expected a whole number from 1 to 86400' \
   "--poll beyond its range: usage error naming the option and the range"
session-listen --poll=0 2>/dev/null; is $? 2 "--poll=0 is a usage error"
session-listen --poll=" 5" 2>/dev/null; is $? 2 "--poll with a space is a usage error"
session-listen --poll=5s 2>/dev/null; is $? 2 "--poll with trailing text is a usage error"
session-listen --from=-1 2>/dev/null; is $? 2 "--from=-1 is a usage error"
session-listen --from=9223372036854775808 2>/dev/null; is $? 2 "--from beyond bigint is a usage error"
session-listen --count=+3 2>/dev/null; is $? 2 "--count with a sign is a usage error"
session-listen --count=0 -d "dbname=$DB"; is $? 0 "--count=0 is accepted (and prints nothing)"
session-listen -d "dbname=$DB host=/nonexistent" 2>/dev/null; is $? 3 "unreachable server: exit 3"
session-listen -d "dbname=postgres" 2>/dev/null; is $? 4 "database without the extension: exit 4"

# --- a third-party client: psycopg2 -----------------------------------------
cat >"$T/client.py" <<'PY'
import json, select, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
for ch in ("sessions_start", "sessions_stop:NL-TNM"):
    cur.execute("SELECT sessions.channel_for(%s, %s)", (ch.split(":")[0].split("_")[1], ch.split(":")[1] if ":" in ch else None))
    cur.execute('LISTEN "%s"' % cur.fetchone()[0].replace('"', '""'))
print("ready", flush=True)
got = []
while len(got) < 3:
    if select.select([conn], [], [], 10) == ([], [], []):
        break
    conn.poll()
    while conn.notifies:
        n = conn.notifies.pop(0)
        got.append((n.channel, json.loads(n.payload)))
for ch, p in got:
    print(ch, p["event"], p["namespace"], p["external_id"], "user_ref" in p, flush=True)
PY
/usr/bin/python3 "$T/client.py" "dbname=$DB" >"$T/py" 2>&1 &
PP=$!
for i in $(seq 1 100); do grep -q ready "$T/py" && break; sleep 0.05; done
q "INSERT INTO sessions.store (kind, namespace, external_id, status, user_ref) VALUES ('ocpi', 'NL-TNM', 'PY1', 'ACTIVE', 'bob@example.com')"
q "UPDATE sessions.store SET status = 'COMPLETED' WHERE external_id = 'PY1'"
q "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'BE-BEC', 'PY2', 'ACTIVE')"
wait $PP
ok $? "psycopg2 client ran"
is "$(grep -v ready "$T/py" | tr '\n' ',')" \
   "sessions_start start NL-TNM PY1 False,sessions_stop:NL-TNM stop NL-TNM PY1 False,sessions_start start BE-BEC PY2 False," \
   "psycopg2 receives start and party stop notifications, without personal data"
psql -X -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
