#!/usr/bin/env bash
# The floor of deriving events from the WAL (issue 14): how much CPU per
# script run of bench/60-notify.sh (one transaction starts a session, one
# ends it) logical decoding costs, against the trigger's event log. Run by
# hand (not part of make bench: it needs its own cluster with
# wal_level = logical): bench/decoding_floor.sh [SECONDS].
#
# On one cluster (wal_level = logical, the library preloaded), alternated
# ROUNDS times, 4 pgbench writers for SECONDS each:
#   off     the trigger disabled, no slot
#   log     the trigger on, session_analytics.notify = off (the log only)
#   slot    the trigger disabled, a test_decoding slot; after the run the
#           slot's changes are decoded by one backend (its CPU per run
#           counted apart: what a decoding notifier would spend at least
#           before writing or announcing anything)
# and once before, off with wal_level = replica (what wal_level = logical
# costs the writers). CPU is utime + stime from /proc (waiting for a core
# does not count), per script run.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
DUR=${1:-10}
ROUNDS=${ROUNDS:-2}
make -s >/dev/null
. tools/pgcluster.sh
pgc_init "$SRC/.test/decoding"
pgc_stage
pgc_start "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" "synchronous_commit = off" \
          "shared_preload_libraries = 'session_analytics'" "session_analytics.database = 'bench'" \
          "max_replication_slots = 4" "autovacuum = off" "session_analytics.expiry_interval = 0"
export PATH=$PGC_TOOLS:$PGC_BIN:$PATH
W=$PGC_DIR/w; rm -rf "$W"; mkdir -p "$W"
psql -X -q -c "CREATE DATABASE bench"; export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION session_analytics"
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -c "$1"; }
PM=$(head -1 "$PGC_DIR/data/postmaster.pid")
cat >"$W/start_stop.sql" <<'SQL'
\set ds random(1, 16)
INSERT INTO sessions.store (kind, namespace, status, started_at, valid_until)
VALUES ('telemetry', 'bench_' || :ds, 'LIVE', clock_timestamp(), clock_timestamp() + interval '1 hour')
RETURNING session_key AS key \gset
UPDATE sessions.store SET status = 'ENDED', ended_at = clock_timestamp()
 WHERE session_key = :key AND namespace = 'bench_' || :ds;
SQL
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
HZ=$(getconf CLK_TCK)
# run NAME: one measured run; appends "runs writer_ticks cluster_ticks tps" to $W/NAME.
run() {
    local pb wpids all r0 r1 w0 w1 a0 a1
    PM=$(head -1 "$PGC_DIR/data/postmaster.pid")
    pgbench -n -M prepared -c 4 -j 4 -T "$DUR" -f "$W/start_stop.sql" >"$W/pgbench.out" 2>&1 & pb=$!
    sleep 1
    wpids=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'")
    all=$(pgrep -P "$PM" | tr '\n' ' ' || true)
    r0=$(q "SELECT count(*) FROM sessions.store")
    w0=$(cpu $wpids); a0=$(cpu $all)
    sleep $((DUR - 2))
    w1=$(cpu $wpids); a1=$(cpu $all)
    r1=$(q "SELECT count(*) FROM sessions.store")
    wait $pb
    echo "$((r1 - r0)) $((w1 - w0)) $((a1 - a0)) $(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$W/pgbench.out")" >>"$W/$1"
}
# decode: the slot's changes, counted; appends "transactions backend_ticks" to $W/decode.
cat >"$W/decode.py" <<'PY'
import sys, psycopg2
def ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
conn = psycopg2.connect("dbname=bench"); conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT pg_backend_pid()"); pid = cur.fetchone()[0]
t0 = ticks(pid)
cur.execute("SELECT count(*) FILTER (WHERE data LIKE 'BEGIN%%') FROM pg_logical_slot_get_changes('floor', NULL, NULL, 'skip-empty-xacts', '1')")
n = cur.fetchone()[0]
print(n, ticks(pid) - t0)
PY
q "TRUNCATE sessions.store CASCADE"
pgbench -n -M prepared -c 4 -j 4 -T 2 -f "$W/start_stop.sql" >/dev/null 2>&1
: >"$W/off_replica"
q "ALTER SYSTEM SET wal_level = replica"; pgc_restart; sleep 1
q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
run off_replica
q "ALTER SYSTEM SET wal_level = logical"; pgc_restart; sleep 1
: >"$W/off"; : >"$W/log"; : >"$W/slot"; : >"$W/decode"
for _ in $(seq 1 "$ROUNDS"); do
    q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
    run off
    q "ALTER TABLE sessions.store ENABLE TRIGGER store_events"
    q "ALTER SYSTEM SET session_analytics.notify = off"; q "SELECT pg_reload_conf()" >/dev/null
    run log
    q "ALTER TABLE sessions.store DISABLE TRIGGER store_events"
    q "SELECT pg_create_logical_replication_slot('floor', 'test_decoding')" >/dev/null
    run slot
    /usr/bin/python3 "$W/decode.py" >>"$W/decode"
    q "SELECT pg_drop_replication_slot('floor')" >/dev/null
done
echo "## Logical decoding floor ($(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), ${DUR} s runs, ${ROUNDS} rounds)"
awk -v hz="$HZ" '
    { n[FILENAME] += $1; w[FILENAME] += $2; a[FILENAME] += $3; tps[FILENAME] = tps[FILENAME] " " $4 }
    END {
        for (f in n) {
            split(f, p, "/"); k = p[length(p)]
            if (k == "decode") continue
            printf "%-12s writers %6.1f us/run, whole cluster %6.1f us/run, runs/s:%s\n", k, w[f] * 1e6 / hz / n[f], a[f] * 1e6 / hz / n[f], tps[f]
        }
    }' "$W/off_replica" "$W/off" "$W/log" "$W/slot"
awk -v hz="$HZ" '{ t += $1; c += $2 } END { printf "decoding (test_decoding, one backend): %d transactions, %.1f us per transaction, %.1f us per script run\n", t, c * 1e6 / hz / t, 2 * c * 1e6 / hz / t }' "$W/decode"
