#!/usr/bin/env bash
# Notifications: write throughput with 4 concurrent pgbench writers (each
# script run starts one telemetry session and ends it: two transactions, two
# events) with the trigger off, the event log only, NOTIFY at commit, and
# NOTIFY by the notifier worker (the cluster preloads the library); then the
# delivery latency from the writing statement to the client at ~1,000
# events/s, for session-listen (ordered, gap-free) and a plain psycopg2
# LISTEN client, in worker and in commit mode.
set -euo pipefail
W=$SA_BENCH_DIR/notify
rm -rf "$W"; mkdir -p "$W"
DUR=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { d = int(10 * s); print (d < 3 ? 3 : d) }')
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -c "$1"; }

cat >"$W/start_stop.sql" <<'SQL'
\set ds random(1, 16)
INSERT INTO sessions.store (kind, namespace, status, started_at, valid_until)
VALUES ('telemetry', 'bench_' || :ds, 'LIVE', clock_timestamp(), clock_timestamp() + interval '1 hour')
RETURNING session_key AS key \gset
UPDATE sessions.store SET status = 'ENDED', ended_at = clock_timestamp()
 WHERE session_key = :key AND namespace = 'bench_' || :ds;
SQL

# Receives lines (session-listen output) or NOTIFYs (psycopg2) and reports
# the latency from the event's time (the writer's clock_timestamp()) to
# receipt; range notifications (coalesced) carry no time and are counted apart.
cat >"$W/latency.py" <<'PY'
import datetime, json, select, sys, time
ls, ranges = [], 0
def lat(payload, recv):
    global ranges
    p = json.loads(payload)
    if "time" not in p:
        ranges += 1; return
    ls.append(recv - datetime.datetime.fromisoformat(p["time"]).timestamp())
out = sys.argv[1]
if sys.argv[2] == "stdin":
    for line in sys.stdin:
        lat(line, time.time())
else:
    import psycopg2
    conn = psycopg2.connect(sys.argv[3]); conn.autocommit = True
    conn.cursor().execute("LISTEN sessions_start; LISTEN sessions_stop")
    open(out + ".ready", "w").close()
    idle = 0
    while idle < 20:
        if select.select([conn], [], [], 0.1) == ([], [], []):
            idle += 1; continue
        idle = 0; conn.poll(); now = time.time()
        while conn.notifies:
            lat(conn.notifies.pop(0).payload, now)
ls.sort()
pct = lambda f: ls[min(len(ls) - 1, int(f * len(ls)))] * 1000 if ls else 0
with open(out, "w") as f:
    f.write("%d %.2f %.2f %.2f %d\n" % (len(ls), pct(0.5), pct(0.99), ls[-1] * 1000 if ls else 0, ranges))
PY

# mode MODE: notify_mode (and notify) for the whole cluster, then wait until
# this database's writers use it (sessions.notify_status()).
mode() {
    case $1 in
        log) q "ALTER SYSTEM SET session_analytics.notify = off" ;;
        *) q "ALTER SYSTEM RESET session_analytics.notify"
           q "ALTER SYSTEM SET session_analytics.notify_mode = $1" ;;
    esac
    q "SELECT pg_reload_conf()" >/dev/null
    local want=$1 i
    [ "$want" = log ] && want=off
    for i in $(seq 1 100); do
        [ "$(q "SELECT mode FROM sessions.notify_status()")" = "$want" ] && return 0
        sleep 0.1
    done
    echo "notify mode $1 not reached" >&2; return 1
}
tps() { # pgbench run, prints script runs per second
    pgbench -n -M prepared -c 4 -j 4 -T "$DUR" "$@" -f "$W/start_stop.sql" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# No maintenance round meanwhile: compacting the summaries' deltas takes a
# core for seconds and its TRUNCATE races ours ("tuple concurrently deleted").
q "ALTER SYSTEM SET session_analytics.expiry_interval = 0"
q "SELECT pg_reload_conf()" >/dev/null
q "TRUNCATE sessions.store CASCADE"
echo "## Notifications (4 writers, ${DUR} s per run; one run = start + end = 2 events)"
# The notifier retries every second until the database exists: wait for it.
for i in $(seq 1 50); do
    [ "$(q "SELECT notifier_pid IS NOT NULL FROM sessions.notify_status()")" = t ] && break
    sleep 0.1
done
echo "notifier: $(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'session_analytics notifier' AND datname = current_database()") running in this database"
session-listen --poll 1 >/dev/null 2>&1 & LP=$!
sleep 0.3
# Warm-up run (discarded): the first run after the load is always slow.
pgbench -n -M prepared -c 4 -j 4 -T 2 -f "$W/start_stop.sql" >/dev/null 2>&1
# Alternate the configurations round by round so drift on a shared machine
# hits all alike.
# BENCH_NOTIFY_ROUNDS=0 measures the latency only.
off=() log=() com=() wrk=()
for round in $(seq 1 "${BENCH_NOTIFY_ROUNDS:-3}"); do
    q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
    off+=("$(tps)")
    q "ALTER TABLE sessions.store ENABLE TRIGGER store_events"
    mode log;    log+=("$(tps)")
    mode commit; com+=("$(tps)")
    mode worker; wrk+=("$(tps)")
done
kill $LP; wait $LP 2>/dev/null || true
if [ "${BENCH_NOTIFY_ROUNDS:-3}" -gt 0 ]; then
# Each configuration's ratio is taken within its round (the four runs of a
# round are adjacent in time) and the median over the rounds is reported:
# the host's drift between rounds moves the baseline as much as the others.
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratios() { local -n xs=$1; local i out=(); for i in "${!xs[@]}"; do out+=("$(awk -v a="${xs[$i]}" -v b="${off[$i]}" 'BEGIN { print a / b }')"); done; med "${out[@]}"; }
row() { local -n xs=$2; printf '| %-52s | %10.0f | %6.2f |\n' "$1" "$(awk -v a="$(med "${xs[@]}")" 'BEGIN { print a * 2 }')" "$(ratios "$2")"; }
printf '| %-52s | %10s | %6s |\n' "configuration" "events/s" "ratio"
printf '|%s|%s|%s|\n' "------------------------------------------------------" "------------" "--------"
row "trigger off (no log, no NOTIFY)" off
row "event log only (notify = off)" log
row "notify_mode = commit, session-listen attached" com
row "notify_mode = worker, session-listen attached" wrk
echo "(script runs/s per round: off ${off[*]}; log ${log[*]}; commit ${com[*]}; worker ${wrk[*]};"
echo " events/s: median of the rounds; ratio: median of the rounds' ratios to that round's trigger-off run)"
fi

# Latency at ~1,000 events/s (500 script runs/s), worker mode then commit mode.
latency() { # MODE
    local M=$W/lat_$1 rate c50 p50 p99 pmax nr
    mode "$1"
    for _ in 1 2 3; do q "TRUNCATE sessions.store CASCADE" && break; sleep 1; done
    rm -f "$M.fifo"; mkfifo "$M.fifo"
    /usr/bin/python3 "$W/latency.py" "$M.listen" stdin <"$M.fifo" & LPIPE=$!
    session-listen --poll 1 >"$M.fifo" 2>/dev/null & LP=$!
    /usr/bin/python3 "$W/latency.py" "$M.py" notify "dbname=$PGDATABASE" & PY=$!
    for i in $(seq 1 100); do [ -e "$M.py.ready" ] && break; sleep 0.05; done
    sleep 0.3
    pgbench -n -M prepared -c 4 -j 4 -T "$DUR" -R 500 -f "$W/start_stop.sql" >"$M.pgbench" 2>&1
    sleep 1
    kill -TERM $LP
    wait $LP $LPIPE $PY 2>/dev/null || true
    rate=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$M.pgbench")
    read -r c50 p50 p99 pmax nr <"$M.listen"
    printf '| %-7s | %-40s | %6d | %8s | %8s | %8s | %8s | %6s |\n' "$1" "session-listen (ordered catch-up)" \
        "$(awk -v a="$rate" 'BEGIN { printf "%d", a * 2 }')" "$c50" "$p50" "$p99" "$pmax" "-"
    read -r c50 p50 p99 pmax nr <"$M.py"
    printf '| %-7s | %-40s | %6d | %8s | %8s | %8s | %8s | %6s |\n' "$1" "psycopg2 LISTEN (raw payloads)" \
        "$(awk -v a="$rate" 'BEGIN { printf "%d", a * 2 }')" "$c50" "$p50" "$p99" "$pmax" "$nr"
}
echo
echo "Delivery latency, writer's statement -> client, at ~1,000 events/s:"
printf '| %-7s | %-40s | %6s | %8s | %8s | %8s | %8s | %6s |\n' "mode" "client" "ev/s" "events" "p50 ms" "p99 ms" "max ms" "ranges"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "---------" "------------------------------------------" "--------" "----------" "----------" "----------" "----------" "--------"
latency worker
latency commit
q "ALTER SYSTEM RESET session_analytics.notify_mode"
q "ALTER SYSTEM RESET session_analytics.expiry_interval"
q "SELECT pg_reload_conf()" >/dev/null
