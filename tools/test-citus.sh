#!/usr/bin/env bash
# make test-citus: the test/citus/*.t suites on a real 3-node Citus cluster
# (a coordinator and two workers, each a throwaway server of the private
# copy of PostgreSQL under ./.test-citus, all on Unix sockets in one private
# directory, never TCP). Ends with one line "N passed, N failed" like make
# test. TESTS='pattern' limits it to matching files. Builds Citus from
# ../shared/citus (tools/deps-citus.sh) when it is not installed.
#   --keep   leave the cluster running afterwards (prints how to reach it)
set -uo pipefail
keep=; [ "${1:-}" = --keep ] && keep=1
cd "$(dirname "$0")/.."
SRC=$PWD

tools/deps.sh || exit 1
tools/deps-citus.sh || { echo "citus is not installed"; echo "0 passed, 1 failed"; exit 1; }
make -s >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

. tools/pgcluster.sh
pgc_init "$SRC/.test-citus"
pgc_stage || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }
[ -e "$PGC_DIR/stage$PGC_PKGLIBDIR/citus.so" ] || { echo "citus.so missing in the staged copy"; echo "0 passed, 1 failed"; exit 1; }
STAGE_BIN=$PGC_BIN
ROOT=$PGC_DIR
SOCK=$ROOT/sock
PORTS="5432 5433 5434"
NODES=(coordinator worker1 worker2)
rm -rf "$SOCK"; mkdir -p "$SOCK"; chown "$PGC_OSUSER" "$SOCK"

# Each node is a pgcluster.sh cluster of its own directory sharing one
# socket directory; pgc_stop of each runs on exit.
stop_all() {
    local n
    [ -n "$keep" ] && return 0
    for n in "${NODES[@]}"; do
        [ -d "$ROOT/$n/data" ] && pgc_as "$STAGE_BIN/pg_ctl" -D "$ROOT/$n/data" -m immediate -w stop >/dev/null 2>&1
    done
    return 0
}
trap stop_all EXIT
i=0
for port in $PORTS; do
    n=${NODES[$i]}; i=$((i + 1))
    PGC_DIR=$ROOT/$n; mkdir -p "$PGC_DIR"; chmod 755 "$PGC_DIR"
    PGC_BIN=$STAGE_BIN
    pgc_start "unix_socket_directories = '$SOCK'" "port = $port" \
        "shared_preload_libraries = 'citus,session_analytics'" \
        "max_prepared_transactions = 20" "max_connections = 100" "shared_buffers = 64MB" \
        "max_worker_processes = 64" "citus.local_hostname = '$SOCK'" \
        "citus.shard_count = 8" "wal_level = logical" ||
        { echo "$n failed to start"; echo "0 passed, 1 failed"; exit 1; }
    trap stop_all EXIT
done
set -- $PORTS
export PGHOST=$SOCK PGPORT=$1 PGUSER=postgres PGDATABASE=postgres
export PATH=$PGC_TOOLS:$STAGE_BIN:$PATH SA_SRC=$SRC SA_TEST_DIR=$ROOT SA_CITUS_PORTS=$PORTS

passed=0 failed=0
pattern=${TESTS:-.}
LOG=$ROOT/test.log
: >"$LOG"
for f in test/citus/*.t; do
    [ -e "$f" ] || continue
    grep -qE "$pattern" <<<"$(basename "$f")" || continue
    echo "== prove $f"
    out=$(prove "$f" 2>&1)
    echo "$out" >>"$LOG"
    echo "$out" | grep -vE '^(All tests successful|Files=|Result:)' | sed 's/^/  /'
    tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' <<<"$out" | tail -1)
    failures=$(sed -n 's/.*Tests: [0-9]* Failed: \([0-9]*\)).*/\1/p' <<<"$out" | awk '{s+=$1} END {print s+0}')
    result=$(sed -n 's/^Result: //p' <<<"$out" | tail -1)
    tests=${tests:-0}
    passed=$((passed + tests - failures)); failed=$((failed + failures))
    if [ "$result" != PASS ] && [ "$failures" -eq 0 ]; then failed=$((failed + 1)); fi
done
stop_all
for n in "${NODES[@]}"; do
    if grep -qE 'terminated by signal|PANIC' "$ROOT/$n/server.log" 2>/dev/null; then
        echo "$n server log shows a crash:"; grep -E 'terminated by signal|PANIC' "$ROOT/$n/server.log"
        failed=$((failed + 1))
    fi
done
[ -n "$keep" ] && echo "cluster left running: PGHOST=$PGHOST ports $PORTS (stop: pg_ctl -D $ROOT/NODE/data stop)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
