#!/usr/bin/env bash
# Notifications: write throughput with the event trigger on vs off (4
# concurrent pgbench writers, each script run starts one telemetry session
# and ends it: two transactions, two events), then the delivery latency from
# the writing statement to the listener's output at ~1,000 events/s, for
# session-listen (ordered, gap-free) and for a plain psycopg2 LISTEN client.
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
# the latency from the event's time (the writer's clock_timestamp()) to receipt.
cat >"$W/latency.py" <<'PY'
import datetime, json, select, sys, time
def lat(payload, recv):
    p = json.loads(payload)
    return recv - datetime.datetime.fromisoformat(p["time"]).timestamp()
out, ls = sys.argv[1], []
if sys.argv[2] == "stdin":
    for line in sys.stdin:
        ls.append(lat(line, time.time()))
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
            ls.append(lat(conn.notifies.pop(0).payload, now))
ls.sort()
pct = lambda f: ls[min(len(ls) - 1, int(f * len(ls)))] * 1000
with open(out, "w") as f:
    f.write("%d %.2f %.2f %.2f\n" % (len(ls), pct(0.5), pct(0.99), ls[-1] * 1000 if ls else 0))
PY

tps() { # pgbench run, prints script runs per second
    pgbench -n -M prepared -c 4 -j 4 -T "$DUR" "$@" -f "$W/start_stop.sql" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

q "TRUNCATE sessions.store CASCADE"
echo "## Notifications (4 writers, ${DUR} s per run; one run = start + end = 2 events)"
# Alternate off/on twice so drift on a shared machine hits both alike.
session-listen --poll 1 >/dev/null 2>&1 & LP=$!
sleep 0.3
# Warm-up run (discarded): the first run after the load is always slow.
pgbench -n -M prepared -c 4 -j 4 -T 2 -f "$W/start_stop.sql" >/dev/null 2>&1
off=() log=() on=()
for round in 1 2; do
    q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
    off+=("$(tps)")
    q "ALTER TABLE sessions.store ENABLE TRIGGER store_events"
    log+=("$(PGOPTIONS="-c session_analytics.notify=off" tps)")
    on+=("$(tps)")
done
kill $LP; wait $LP 2>/dev/null || true
best() { printf '%s\n' "$@" | sort -g | tail -1; }
o=$(best "${off[@]}"); l=$(best "${log[@]}"); n=$(best "${on[@]}")
printf '| %-44s | %12s | %6s |\n' "configuration" "events/s" "ratio"
printf '|%s|%s|%s|\n' "----------------------------------------------" "--------------" "--------"
printf '| %-44s | %12.0f | %6s |\n' "trigger off (no log, no NOTIFY)" "$(awk -v a="$o" 'BEGIN { print a * 2 }')" "1.00"
printf '| %-44s | %12.0f | %6.2f |\n' "event log only (notify = off)" "$(awk -v a="$l" 'BEGIN { print a * 2 }')" "$(awk -v a="$l" -v b="$o" 'BEGIN { print a / b }')"
printf '| %-44s | %12.0f | %6.2f |\n' "log + NOTIFY, session-listen attached" "$(awk -v a="$n" 'BEGIN { print a * 2 }')" "$(awk -v a="$n" -v b="$o" 'BEGIN { print a / b }')"
echo "NOTIFY alone (log + NOTIFY vs log only): $(awk -v a="$n" -v b="$l" 'BEGIN { printf "%.2f", a / b }')x"
echo "(script runs/s: off ${off[*]}; log ${log[*]}; on ${on[*]}; best of two each)"

# Latency at ~1,000 events/s (500 script runs/s).
q "TRUNCATE sessions.store CASCADE"
mkfifo "$W/fifo"
/usr/bin/python3 "$W/latency.py" "$W/lat_listen" stdin <"$W/fifo" & LPIPE=$!
session-listen --poll 1 >"$W/fifo" 2>/dev/null & LP=$!
/usr/bin/python3 "$W/latency.py" "$W/lat_py" notify "dbname=$PGDATABASE" & PY=$!
for i in $(seq 1 100); do [ -e "$W/lat_py.ready" ] && break; sleep 0.05; done
sleep 0.3
pgbench -n -M prepared -c 4 -j 4 -T "$DUR" -R 500 -f "$W/start_stop.sql" >"$W/pgbench_rate.log" 2>&1
sleep 1
kill -TERM $LP
wait $LP $LPIPE $PY 2>/dev/null || true
rate=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$W/pgbench_rate.log")
echo
echo "Delivery latency, writer's statement -> client, at $(awk -v a="$rate" 'BEGIN { printf "%d", a * 2 }') events/s:"
printf '| %-44s | %8s | %8s | %8s | %8s |\n' "client" "events" "p50 ms" "p99 ms" "max ms"
printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "----------" "----------" "----------" "----------"
read -r c50 p50 p99 pmax <"$W/lat_listen"
printf '| %-44s | %8s | %8s | %8s | %8s |\n' "session-listen (ordered catch-up per wake-up)" "$c50" "$p50" "$p99" "$pmax"
read -r c50 p50 p99 pmax <"$W/lat_py"
printf '| %-44s | %8s | %8s | %8s | %8s |\n' "psycopg2 LISTEN (raw NOTIFY payloads)" "$c50" "$p50" "$p99" "$pmax"
