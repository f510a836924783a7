#!/usr/bin/env bash
# make bench: install this tree into a private copy of PostgreSQL, start a
# throwaway cluster and run every benchmark part bench/NN-*.sh in name order.
# Each part times its subject against a baseline in the same run and prints
# the ratios. BENCH='pattern' runs only the matching parts; BENCH_SCALE=0.1
# shrinks the data sets for a quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
tools/deps.sh
make -s >/dev/null
. tools/pgcluster.sh
pgc_init "$SRC/.test/bench"
pgc_stage
# Preloaded, as in production: the expiry worker and the notifier run in
# the database bench (they retry until it has been created).
pgc_start "shared_buffers = 4GB" "work_mem = 64MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
          "synchronous_commit = off" "max_parallel_workers = 8" "max_parallel_workers_per_gather = 2" \
          "shared_preload_libraries = 'session_analytics'" "session_analytics.database = 'bench'"
export PATH=$PGC_TOOLS:$PGC_BIN:$PATH SA_SRC=$SRC SA_BENCH_DIR=$PGC_DIR BENCH_SCALE=${BENCH_SCALE:-1}
psql -X -q -c "CREATE DATABASE bench" && export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION session_analytics"
echo "# session_analytics benchmarks — $(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(psql -X -At -c 'SELECT version()' | cut -d, -f1)"
for part in bench/[0-9]*.sh; do
    [ -e "$part" ] || continue
    grep -qE "${BENCH:-.}" <<<"$(basename "$part")" || continue
    echo; bash "$part" || { echo "$part failed"; failed=1; }
done
exit ${failed:-0}
