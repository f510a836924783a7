#!/usr/bin/env bash
# Notifications, CPU per transaction: the 4 writers of bench/60-notify.sh
# with the trigger off and in worker mode with session-listen attached, each
# process's CPU time (utime + stime from /proc, which waiting for a core
# does not count) per script run, split into the writers' backends, the
# notifier, session-listen's backend and client, pgbench and the rest of the
# cluster (WAL writer, checkpointer, ...). On a shared machine throughput
# moves with the load; CPU per script run hardly does. The last line is the
# ratio an otherwise idle machine would show if every process's CPU came out
# of the writers' cores (2 cores, 4 CPU-bound writers): all CPU per run with
# the trigger off over all CPU per run in worker mode.
set -euo pipefail
W=$SA_BENCH_DIR/notify_cpu
rm -rf "$W"; mkdir -p "$W"
DUR=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { d = int(10 * s); print (d < 4 ? 4 : d) }')
ROUNDS=${BENCH_CPU_ROUNDS:-2}
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -c "$1"; }
HZ=$(getconf CLK_TCK)
PM=$(head -1 "$SA_BENCH_DIR/data/postmaster.pid")

cat >"$W/start_stop.sql" <<'SQL'
\set ds random(1, 16)
INSERT INTO sessions.store (kind, namespace, status, started_at, valid_until)
VALUES ('telemetry', 'bench_' || :ds, 'LIVE', clock_timestamp(), clock_timestamp() + interval '1 hour')
RETURNING session_key AS key \gset
UPDATE sessions.store SET status = 'ENDED', ended_at = clock_timestamp()
 WHERE session_key = :key AND namespace = 'bench_' || :ds;
SQL

mode() {
    q "ALTER SYSTEM SET session_analytics.notify_mode = $1"
    q "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do
        [ "$(q "SELECT mode FROM sessions.notify_status()")" = "$1" ] && return 0
        sleep 0.1
    done
    echo "notify mode $1 not reached" >&2; return 1
}
# cpu PID...: the sum of utime + stime in clock ticks (0 for a gone pid).
cpu() {
    local p t=0 f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo $t
}
children() { pgrep -P "$PM" | tr '\n' ' '; }

for _ in $(seq 1 50); do
    [ "$(q "SELECT notifier_pid IS NOT NULL FROM sessions.notify_status()")" = t ] && break
    sleep 0.1
done
# No maintenance round meanwhile (compacting the summaries' deltas takes a
# core for seconds; it would land in "rest" of one run and not another).
q "ALTER SYSTEM SET session_analytics.expiry_interval = 0"
q "SELECT pg_reload_conf()" >/dev/null
mode worker
# a maintenance round begun before the reload may still be compacting
for _ in 1 2 3; do q "TRUNCATE sessions.store CASCADE" && break; sleep 1; done
session-listen --poll 1 >/dev/null 2>&1 & LP=$!
sleep 0.5
pgbench -n -M prepared -c 4 -j 4 -T 2 -f "$W/start_stop.sql" >/dev/null 2>&1

# run CONFIG: one measured pgbench run; prints
# "runs writers notifier listen_backend listen_client pgbench rest" (ticks).
run() {
    local npid lbpid wpids all pb r0 r1 a0 a1 w0 w1 n0 n1 lb0 lb1 lc0 lc1 pb0 pb1
    if [ "$1" = off ]; then q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
    else q "ALTER TABLE sessions.store ENABLE TRIGGER store_events"; fi
    npid=$(q "SELECT notifier_pid FROM sessions.notify_status()")
    lbpid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'session-listen'")
    pgbench -n -M prepared -c 4 -j 4 -T "$DUR" -f "$W/start_stop.sql" >/dev/null 2>&1 & pb=$!
    sleep 1
    wpids=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'")
    all=$(children)
    r0=$(q "SELECT count(*) FROM sessions.store")
    a0=$(cpu $all); w0=$(cpu $wpids); n0=$(cpu $npid); lb0=$(cpu $lbpid); lc0=$(cpu $LP); pb0=$(cpu $pb)
    sleep $((DUR - 2))
    a1=$(cpu $all); w1=$(cpu $wpids); n1=$(cpu $npid); lb1=$(cpu $lbpid); lc1=$(cpu $LP); pb1=$(cpu $pb)
    r1=$(q "SELECT count(*) FROM sessions.store")
    wait $pb
    echo "$((r1 - r0)) $((w1 - w0)) $((n1 - n0)) $((lb1 - lb0)) $((lc1 - lc0)) $((pb1 - pb0)) $((a1 - a0 - (w1 - w0) - (n1 - n0) - (lb1 - lb0)))"
}
: >"$W/off"; : >"$W/worker"
for _ in $(seq 1 "$ROUNDS"); do
    run off >>"$W/off"
    run worker >>"$W/worker"
done
kill $LP; wait $LP 2>/dev/null || true
q "ALTER TABLE sessions.store ENABLE TRIGGER store_events"
q "ALTER SYSTEM RESET session_analytics.notify_mode"
q "ALTER SYSTEM RESET session_analytics.expiry_interval"
q "SELECT pg_reload_conf()" >/dev/null

echo "## Notifications, CPU per script run (4 writers, ${DUR} s runs, ${ROUNDS} of each, summed; one run = 2 events)"
# µs of CPU per script run, per process class, and the share of the writers' CPU.
awk -v hz="$HZ" '
    FNR == 1 { f++ }
    { runs[f] += $1; for (i = 2; i <= 7; i++) t[f, i] += $i }
    END {
        split("writer backends,notifier,session-listen backend,session-listen client,pgbench,rest of the cluster", name, ",")
        printf "| %-24s | %12s | %12s | %14s |\n", "process", "off us/run", "worker us/run", "worker / writers"
        printf "|%s|%s|%s|%s|\n", "--------------------------", "--------------", "--------------", "----------------"
        for (i = 2; i <= 7; i++) {
            o = t[1, i] * 1e6 / hz / runs[1]; w = t[2, i] * 1e6 / hz / runs[2]
            so += o; sw += w
            printf "| %-24s | %12.1f | %12.1f | %14.3f |\n", name[i - 1], o, w, t[2, i] / t[2, 2]
        }
        printf "| %-24s | %12.1f | %12.1f | %14s |\n", "all", so, sw, ""
        printf "script runs measured: off %d, worker %d; CPU ratio off/worker (idle-machine estimate): %.2f\n", runs[1], runs[2], so / sw
    }' "$W/off" "$W/worker"
