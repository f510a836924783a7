#!/usr/bin/env bash
# Events on a Citus cluster (docs/scale-out.md, "Events"): the latency from
# the writing statement to session-listen attached to the coordinator, with
# writers through the coordinator (pgbench, 4 clients, one INSERT = one
# start event, 16 namespaces over both workers) at ~200 and ~1,000
# events/s, against one node (a database of the coordinator's server
# without Citus, the same writers and listener) in the same run; then the
# relay's CPU while idle. Starts its own 3-node cluster on Unix sockets
# (tools/test-citus.sh --keep) and stops it at the end.
#   bench/citus_events.sh            (BENCH_SCALE=0.3 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
DUR=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { d = int(15 * s); print (d < 3 ? 3 : d) }')
IDLE=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { d = int(30 * s); print (d < 5 ? 5 : d) }')
TESTS=nomatch-start-only tools/test-citus.sh --keep >/dev/null
ROOT=$SRC/.test-citus
W=$ROOT/bench; rm -rf "$W"; mkdir -p "$W"
stop() { for n in coordinator worker1 worker2; do
             runuser -u postgres -- "$(ls -d "$ROOT"/stage/usr/lib/postgresql/*/bin)/pg_ctl" -D "$ROOT/$n/data" -m immediate -w stop >/dev/null 2>&1 || true
         done; }
trap stop EXIT
export PGHOST=$ROOT/sock PGPORT=5432 PGUSER=postgres SA_CITUS_PORTS="5432 5433 5434"
export PATH=$ROOT/tools:$(ls -d "$ROOT"/stage/usr/lib/postgresql/*/bin):$PATH
. test/citus/lib/citus.sh
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -d "$1" -c "$2"; }

single_db bench_one
citus_db bench_cl
q bench_cl "SELECT count(*) FROM sessions.distribute()" >/dev/null

cat >"$W/start.sql" <<'SQL'
\set ds random(1, 16)
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at)
VALUES ('invoice', 'bench_' || :ds, 'b-' || :client_id || '-' || random(), 'OPEN', clock_timestamp());
SQL
# Lines of session-listen on stdin: latency from the event's time (the
# writer's clock_timestamp()) to receipt. Prints count, p50, p99, max (ms).
cat >"$W/latency.py" <<'PY'
import datetime, json, sys, time
ls = []
for line in sys.stdin:
    now = time.time()
    p = json.loads(line)
    if p.get("time"):
        ls.append(now - datetime.datetime.fromisoformat(p["time"]).timestamp())
ls.sort()
pct = lambda f: ls[min(len(ls) - 1, int(f * len(ls)))] * 1000 if ls else 0
print("%d %.1f %.1f %.1f" % (len(ls), pct(0.5), pct(0.99), ls[-1] * 1000 if ls else 0))
PY

# serve DB: the coordinator's background workers (notifier, relay) move to DB.
serve() {
    q postgres "ALTER SYSTEM SET session_analytics.database = '$1'"
    q postgres "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do
        [ "$(q "$1" "SELECT notifier_pid IS NOT NULL FROM sessions.notify_status()")" = t ] && break
        sleep 0.1
    done
    sleep 1
}
# run DB RATE: pgbench at RATE events/s for DUR s with session-listen attached.
run() {
    local M=$W/$1_$2 rate n p50 p99 max
    rm -f "$M.fifo"; mkfifo "$M.fifo"
    /usr/bin/python3 "$W/latency.py" <"$M.fifo" >"$M.lat" & LPIPE=$!
    session-listen -d "dbname=$1" --poll 1 >"$M.fifo" 2>"$M.err" & LP=$!
    sleep 0.5
    pgbench -n -M prepared -c 4 -j 2 -T "$DUR" -R "$2" -d "$1" -f "$W/start.sql" >"$M.pgbench" 2>&1
    sleep 2
    kill -TERM $LP; wait $LP $LPIPE 2>/dev/null || true
    rate=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$M.pgbench")
    read -r n p50 p99 max <"$M.lat"
    printf '| %-28s | %6.0f | %7d | %7s | %7s | %7s |\n' "$3" "$rate" "$n" "$p50" "$p99" "$max"
    echo "$p99" >"$M.p99"
}

echo "# Citus events — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "relay_interval $(q bench_cl "SHOW session_analytics.relay_interval"), notify_mode $(q bench_cl "SHOW session_analytics.notify_mode"), ${DUR} s per run"
echo
printf '| %-28s | %6s | %7s | %7s | %7s | %7s |\n' "writers -> session-listen" "ev/s" "events" "p50 ms" "p99 ms" "max ms"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------" "--------" "---------" "---------" "---------" "---------"
# Warm-up of each (discarded).
serve bench_cl
pgbench -n -c 2 -T 2 -d bench_cl -f "$W/start.sql" >/dev/null 2>&1
for rate in 200 1000; do
    serve bench_one
    run bench_one $rate "one node, $rate/s"
    serve bench_cl
    run bench_cl $rate "cluster (relay), $rate/s"
done
echo
for rate in 200 1000; do
    awk -v a="$(cat "$W/bench_cl_$rate.p99")" -v b="$(cat "$W/bench_one_$rate.p99")" -v r=$rate \
        'BEGIN { printf "p99 at %d/s: cluster / one node = %.1f\n", r, (b > 0 ? a / b : 0) }'
done
is_exact=$(q bench_cl "SELECT (SELECT count(*) FROM sessions.store) = (SELECT count(*) FROM sessions.event_log)")
echo "every stored row has its one event in the coordinator's log: $is_exact"

# Idle: the relay worker on the coordinator and the backends serving its
# connections on the workers, CPU time over IDLE s with no writes.
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rpid=$(q bench_cl "SELECT pid FROM pg_stat_activity WHERE backend_type = 'session_analytics relay'")
wpids=$(for p in 5433 5434; do psql -X -At -p $p -d bench_cl -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'session_analytics relay'"; done)
sleep 2
before=0; for p in $rpid $wpids; do before=$((before + $(cpu_of "$p"))); done
sleep "$IDLE"
after=0; for p in $rpid $wpids; do after=$((after + $(cpu_of "$p"))); done
tck=$(getconf CLK_TCK)
awk -v d=$((after - before)) -v t="$tck" -v s="$IDLE" \
    'BEGIN { printf "idle relay: %.2f%% of one core (relay worker + %s, over %d s)\n", 100 * d / t / s, "its backends on both workers", s }'
q postgres "ALTER SYSTEM RESET session_analytics.database"
