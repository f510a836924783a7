#!/usr/bin/env bash
# Events and notifications on the cluster (docs/scale-out.md, "Events"):
# each worker logs the events of its shards in its own log, the relay copies
# them into the coordinator's log. Checked here: distribute() of a store with
# rows and events logs none twice (nor when run again); writes through the
# coordinator (OCPI PUT/PATCH, telemetry, invoice lifecycle, PowerFlex
# import) log the events one node logs for the same calls, in the same order
# per namespace; events_since through the coordinator; rolled-back writes
# (one-node and two-phase) log nothing; the relay's errors have SQLSTATEs
# (a worker down: 08006, and it loses nothing); session-listen on the
# coordinator receives every event of writers on both workers exactly once,
# in per-namespace order, across an immediate stop and start of a worker.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 38
one=c_ev_one cl=c_ev
T=$SA_TEST_DIR/events; rm -rf "$T"; mkdir -p "$T"
DATA=$SA_SRC/test/cli/data
single_db $one
citus_db $cl
set -- $SA_CITUS_PORTS
wport=("" "$2" "$3")
# node_ctl N start|stop: pg_ctl of worker N (as the servers' OS user).
node_ctl() {
    local d=$SA_TEST_DIR/worker$1
    if [ "$2" = stop ]; then
        runuser -u postgres -- pg_ctl -D "$d/data" -m immediate -w stop >/dev/null 2>&1
    else
        runuser -u postgres -- pg_ctl -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null 2>&1
    fi
}
[ "$(id -u)" = 0 ] || node_ctl() { local d=$SA_TEST_DIR/worker$1
    if [ "$2" = stop ]; then pg_ctl -D "$d/data" -m immediate -w stop >/dev/null 2>&1
    else pg_ctl -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null 2>&1; fi; }
# relay DB: sessions.relay_events() until a round copies nothing.
relay() { local n; for _ in $(seq 1 50); do n=$(cq "$1" -c "SELECT sessions.relay_events()") || return 1; [ "$n" = 0 ] && return 0; done; return 1; }
evs="SELECT event, kind, namespace, external_id, status FROM sessions.event_log ORDER BY namespace, seq"

# --- distribute() of a store with rows and events ----------------------------
pre=$(cat <<'SQL'
SELECT sessions.open_session('online', '1 hour', 'PRE-' || i) FROM generate_series(1, 3) i;
SELECT sessions.terminate_session('PRE-1');
SQL
)
both $one $cl "$pre"; ok $? "rows and events before distribute(), on both"
n0=$(cq $cl -c "SELECT count(*) FROM sessions.event_log")
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log"):$(wq 1 $cl -c "SELECT count(*) FROM sessions.event_log"):$(wq 2 $cl -c "SELECT count(*) FROM sessions.event_log")" \
   "$n0:0:0" "moving the rows logged no event, here or on a worker; the earlier $n0 stay in the coordinator's log"
is "$(wq 1 $cl -c "SELECT string_agg(DISTINCT tgenabled::text, ',') FROM pg_trigger WHERE tgname LIKE 'store_events_%'"):$(wq 1 $cl -c "SELECT string_agg(DISTINCT tgenabled::text, ',') FROM pg_trigger WHERE tgname ~ '^summary_(insert|update|delete)_[0-9]+\$'")" \
   "O:O" "on a worker the event trigger and the live summaries' row-change triggers are on for the store's shards"
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null
relay $cl
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log")" "$n0" "distribute() again, then the relay: still no new event"
same $one $cl "$evs" "the events logged before distribute() are one node's"

# --- the same calls on one node and through the coordinator ------------------
doc() { # doc CC PID ID STATUS LAST_UPDATED
    printf '{"country_code": "%s", "party_id": "%s", "id": "%s", "start_date_time": "2024-03-01T10:00:00Z", "kwh": 1.5, "cdr_token": {"country_code": "%s", "party_id": "TST", "uid": "U-%s", "type": "RFID", "contract_id": "%s-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC-1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "status": "%s", "last_updated": "%s"}' \
        "$1" "$2" "$3" "$1" "$3" "$1" "$4" "$5"
}
calls=""
for p in NL:TNM DE:XYZ BE:BEC FR:FRA; do
    cc=${p%%:*} pid=${p##*:}
    for i in 1 2 3; do
        calls+="SELECT sessions.ocpi_put('$cc', '$pid', 's-$i', '$(doc "$cc" "$pid" "s-$i" PENDING 2024-03-01T10:01:00Z)'::jsonb);"
        calls+="SELECT sessions.ocpi_patch('$cc', '$pid', 's-$i', '{\"status\": \"ACTIVE\", \"last_updated\": \"2024-03-01T10:02:00Z\"}');"
    done
    calls+="SELECT sessions.ocpi_put('$cc', '$pid', 's-1', '$(doc "$cc" "$pid" s-1 COMPLETED 2024-03-01T11:00:00Z)'::jsonb);"
    calls+="SELECT sessions.ocpi_patch('$cc', '$pid', 's-2', '{\"status\": \"INVALID\", \"last_updated\": \"2024-03-01T11:00:00Z\"}');"
done
calls+=$(cat <<'SQL'
CREATE TABLE public.k (id text PRIMARY KEY, key uuid);
INSERT INTO public.k SELECT 'a1', sessions.create_session('meter-a', 'Session', 1, '1 hour', 'a1', '{}', '{}', '2025-03-01 10:00+00');
INSERT INTO public.k SELECT 'b1', sessions.create_session('meter-b', 'Charge', 2, '-2 hours', 'b1', '{}', '{}', '2025-03-01 11:00+00');
SELECT sessions.update_session_details((SELECT key FROM public.k WHERE id = 'a1'), '{"y": "2"}');
SELECT sessions.end_session((SELECT key FROM public.k WHERE id = 'b1'), 'meter-b', '2025-03-01 12:30+00');
SELECT sessions.end_session((SELECT key FROM public.k WHERE id = 'a1'), 'meter-a', '2025-03-01 13:30+00');
SELECT sessions.open_session('batch', '1 hour', 'BA-' || i) FROM generate_series(1, 3) i;
SELECT sessions.set_session_status('PRE-2', 150);
SELECT sessions.terminate_session('BA-2');
SQL
)
both $one $cl "$calls"; ok $? "OCPI PUT/PATCH, telemetry and invoice calls succeed on both"
a=$(PGDATABASE=$one session-report import powerflex "$DATA/powerflex_small.json" 2>&1)
b=$(PGDATABASE=$cl session-report import powerflex "$DATA/powerflex_small.json" 2>&1)
is "$b" "$a" "the PowerFlex import: the same summary line"
relay $cl; ok $? "the relay copies the workers' events until nothing is left"
same $one $cl "$evs" "the coordinator's log holds one node's events: kind, namespace, key, type, in each namespace's order"
same $one $cl "SELECT count(*), count(DISTINCT namespace) FROM sessions.event_log" "as many events (and namespaces)"
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log GROUP BY seq HAVING count(*) > 1")" "" "no seq twice"
same $one $cl "SELECT event, external_id, status FROM sessions.events_since(0, 'NL-TNM')" "events_since(0, namespace) through the coordinator: one node's"
mid=$(cq $cl -c "SELECT seq FROM sessions.event_log ORDER BY seq OFFSET 9 LIMIT 1")
is "$(cq $cl -c "SELECT count(*) FROM sessions.events_since($mid, NULL, 100000)")" "$(( $(cq $cl -c "SELECT count(*) FROM sessions.event_log") - 10 ))" \
   "events_since(after_seq) returns every event after it"
sleep 1.1; relay $cl
is "$(wq 1 $cl -c "SELECT count(*) FROM sessions.event_log")+$(wq 2 $cl -c "SELECT count(*) FROM sessions.event_log")" "0+0" \
   "relayed events are removed from the workers' logs"
same $one $cl "SELECT count(*) FROM sessions.event_log" "and removing them duplicated nothing"

# --- rolled back and two-phase writes ----------------------------------------
# Two namespaces on different workers: a transaction writing both commits
# with two-phase commit.
ns_on() { # ns_on PORT: a namespace whose shard is on the worker of PORT
    local i
    for i in $(seq 1 60); do
        [ "$(cq $cl -c "SELECT n.nodeport FROM pg_dist_shard_placement n WHERE n.shardid = get_shard_id_for_distribution_column('sessions.store', 'tp$i')")" = "$1" ] &&
            { echo "tp$i"; return; }
    done
}
na=$(ns_on "${wport[1]}") nb=$(ns_on "${wport[2]}")
before=$(cq $cl -c "SELECT count(*) FROM sessions.event_log")
cq $cl -c "BEGIN" -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'rb-1', 'OPEN')" -c "ROLLBACK"
cq $cl -c "BEGIN" -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'rb-2', 'OPEN')" \
       -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$nb', 'rb-3', 'OPEN')" -c "SELECT 1/0" 2>/dev/null
relay $cl
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log")" "$before" "rolled-back writes (one worker, two workers) log no event"
cq $cl -c "BEGIN" -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'tp-1', 'OPEN')" \
       -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$nb', 'tp-2', 'OPEN')" -c "COMMIT"
relay $cl
is "$(cq $cl -c "SELECT string_agg(namespace || ':' || external_id, ',' ORDER BY namespace) FROM sessions.event_log WHERE seq > (SELECT max(seq) - 2 FROM sessions.event_log)")" \
   "$(printf '%s\n' "$na:tp-1" "$nb:tp-2" | sort | paste -sd,)" "a transaction over both workers (two-phase commit): both events, once"

# --- the relay's errors -------------------------------------------------------
err() { cq "$1" -c "\\set VERBOSITY verbose" -c "$2" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; }
is "$(err $cl "SELECT sessions.relay_events(0)")" 22023 "relay_events(0): 22023"
is "$(err $one "SELECT sessions.relay_events()")" 55000 "relay_events() without Citus: 55000"
cq $cl -c "CREATE ROLE c_ev_writer IN ROLE session_analytics_writer" 2>/dev/null
is "$(err $cl "SET ROLE c_ev_writer; SELECT sessions.relay_events()")" 42501 "relay_events() is the owner's: 42501 for a writer"
node_ctl 2 stop
is "$(err $cl "SELECT sessions.relay_events()")" 08006 "a worker down: 08006, the round copies nothing"
cq $cl -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'down-1', 'OPEN')"
is "$(err $cl "SELECT sessions.relay_events()")" 08006 "still 08006 while it is down (the other worker's event waits too)"
node_ctl 2 start
relay $cl; ok $? "the worker back: the relay goes on"
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log WHERE external_id = 'down-1'")" 1 "the event written meanwhile, once"

# --- shard moves ------------------------------------------------------------
# Rows copied by a move log nothing (block_writes: COPY into the new shard;
# force_logical: logical replication); the namespace's next write logs on
# the target worker and is relayed once.
sid=$(cq $cl -c "SELECT get_shard_id_for_distribution_column('sessions.store', '$na')")
before=$(cq $cl -c "SELECT count(*) FROM sessions.event_log")
cq $cl -c "SELECT citus_move_shard_placement($sid, '$PGHOST', ${wport[1]}, '$PGHOST', ${wport[2]}, shard_transfer_mode => 'block_writes')" >/dev/null &&
cq $cl -c "SELECT citus_move_shard_placement($sid, '$PGHOST', ${wport[2]}, '$PGHOST', ${wport[1]}, shard_transfer_mode => 'force_logical')" >/dev/null
ok $? "the shard of $na moved to the other worker and back (block_writes, then force_logical)"
relay $cl
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log")" "$before" "moving its rows logged no event"
cq $cl -c "SELECT citus_move_shard_placement($sid, '$PGHOST', ${wport[1]}, '$PGHOST', ${wport[2]}, shard_transfer_mode => 'block_writes')" >/dev/null
cq $cl -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'moved-1', 'OPEN')"
is "$(wq 2 $cl -c "SELECT count(*) FROM sessions.event_log WHERE external_id = 'moved-1'")" 1 "a write after the move logs on the target worker"
relay $cl
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log WHERE external_id = 'moved-1'"):$(cq $cl -c "SELECT count(*) FROM sessions.event_log")" \
   "1:$((before + 1))" "and is relayed once"
cq $cl -c "SELECT citus_move_shard_placement($sid, '$PGHOST', ${wport[2]}, '$PGHOST', ${wport[1]}, shard_transfer_mode => 'block_writes')" >/dev/null

# --- session-listen on the coordinator, writers on both workers, a restart --
# The relay worker serves this database from now on.
cq postgres -c "ALTER SYSTEM SET session_analytics.database = '$cl'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
    [ "$(cq $cl -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'session_analytics relay' AND datname = current_database()")" = 1 ] && break
    sleep 0.1
done
is "$(cq $cl -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'session_analytics relay' AND datname = current_database()")" 1 \
   "the relay worker runs in the cluster's database"
# Wake-ups, with a poll too slow to matter (60 s): a one-worker commit
# notifies the relay at commit, a two-phase one with its COMMIT PREPARED.
cq postgres -c "ALTER SYSTEM SET session_analytics.relay_interval = '60s'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
arrived() { for _ in $(seq 1 100); do [ "$(cq $cl -c "SELECT count(*) FROM sessions.event_log WHERE external_id = '$1'")" = "$2" ] && return 0; sleep 0.1; done; return 1; }
cq $cl -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'wake-1', 'OPEN')"
arrived wake-1 1; ok $? "a one-worker commit wakes the relay (its event in the coordinator's log well before the 60 s poll)"
cq $cl -c "BEGIN" -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$na', 'wake-2', 'OPEN')" \
       -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', '$nb', 'wake-2', 'OPEN')" -c "COMMIT"
arrived wake-2 2; ok $? "so does a two-phase commit over both workers (COMMIT PREPARED sends the wake-up)"
cq postgres -c "ALTER SYSTEM RESET session_analytics.relay_interval" -c "SELECT pg_reload_conf()" >/dev/null
ns=("$(ns_on "${wport[1]}")" "$(ns_on "${wport[2]}")")
ns+=("$(for i in $(seq 61 120); do p=$(cq $cl -c "SELECT n.nodeport FROM pg_dist_shard_placement n WHERE n.shardid = get_shard_id_for_distribution_column('sessions.store', 'tp$i')"); [ "$p" = "${wport[1]}" ] && { echo tp$i; break; }; done)")
ns+=("$(for i in $(seq 61 120); do p=$(cq $cl -c "SELECT n.nodeport FROM pg_dist_shard_placement n WHERE n.shardid = get_shard_id_for_distribution_column('sessions.store', 'tp$i')"); [ "$p" = "${wport[2]}" ] && { echo tp$i; break; }; done)")
head=$(cq $cl -c "SELECT sessions.events_head()")
session-listen -d "dbname=$cl" --from "$head" --poll 1 >"$T/listen.out" 2>"$T/listen.err" & LP=$!
sleep 0.5
# Writers: per namespace one psql session, each statement its own
# transaction; statements that fail while a worker is down are not
# committed (and log nothing). Two namespaces per worker.
wr() { # wr NS N
    local i
    for i in $(seq 1 "$2"); do
        echo "INSERT INTO sessions.store (kind, namespace, external_id, status, started_at) VALUES ('invoice', '$1', '$1-w$i', 'OPEN', clock_timestamp());"
        echo "UPDATE sessions.store SET status = 'CLOSED', ended_at = now() WHERE namespace = '$1' AND kind = 'invoice' AND external_id = '$1-w$i';"
        echo "SELECT pg_sleep(0.01);"
    done | psql -X -q -d $cl -o /dev/null 2>>"$T/writers.err"
}
pids=()
for n in "${ns[@]}"; do wr "$n" 150 & pids+=($!); done
sleep 1.5
node_ctl 1 stop
sleep 1
node_ctl 1 start
wait "${pids[@]}"
total() { cq $cl -c "SELECT count(*) + count(ended_at) FROM sessions.store WHERE namespace IN ('${ns[0]}', '${ns[1]}', '${ns[2]}', '${ns[3]}') AND external_id LIKE namespace || '-w%'"; }
want=$(total)
for _ in $(seq 1 150); do [ "$(wc -l <"$T/listen.out")" -ge "$want" ] && break; sleep 0.1; done
sleep 1.5
kill $LP; wait $LP 2>/dev/null
grep -q 'ERROR' "$T/writers.err"; ok $? "some writes failed while the worker was down (the restart happened under load)"
is "$(wc -l <"$T/listen.out")" "$want" "session-listen printed one event per committed start and stop ($want), none lost"
is "$(sed -E 's/^\{"seq":([0-9]+),.*/\1/' "$T/listen.out" | sort -n | uniq -d | wc -l)" 0 "no seq printed twice"
is "$(sed -E 's/^\{"seq":([0-9]+),.*/\1/' "$T/listen.out" | tr '\n' ' ')" \
   "$(cq $cl -c "SELECT seq FROM sessions.event_log WHERE seq > $head ORDER BY seq" | tr '\n' ' ')" \
   "exactly the coordinator's log after the start position, in seq order"
order=$(python3 - "$T/listen.out" <<'PY'
import json, sys
last, bad, open_ = {}, 0, set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    ns, t, x = e["namespace"], e["time"], e["external_id"]
    if ns in last and t < last[ns]:
        bad += 1
    last[ns] = t
    if e["event"] == "start":
        open_.add(x)
    elif x not in open_:
        bad += 1
print(bad)
PY
)
is "$order" 0 "per namespace, the events come in the writers' order (times never go back, each stop after its start)"
is "$(cq $cl -c "SELECT count(*) FROM sessions.event_log e JOIN sessions.store s ON s.namespace = e.namespace AND s.external_id = e.external_id WHERE e.namespace = '${ns[0]}'")" \
   "$(cq $cl -c "SELECT count(*) + count(ended_at) FROM sessions.store WHERE namespace = '${ns[0]}'")" \
   "the restarted worker's namespace: one start per row and one stop per ended row in the log"
cq postgres -c "ALTER SYSTEM RESET session_analytics.database" -c "SELECT pg_reload_conf()" >/dev/null
