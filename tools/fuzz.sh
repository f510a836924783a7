#!/usr/bin/env bash
# make fuzz: build, install into a private copy of PostgreSQL, start a
# throwaway cluster under ./.fuzz and run the fuzzers for longer than make
# test does. Ends with one line "N passed, N failed" (targets).
#
#   FUZZ_CASES   cases in all (default 100000), shared by the targets
#   FUZZ_SEED    seed (default 9, the one make test uses); any text
#   FUZZ_TARGET  comma-separated targets of test/fuzz/fuzz.py (default all)
# Reproducers of failures are written to .fuzz/failures/. When
# test/fuzz/fuzz_stats.py (the session_stats fuzzer) exists it runs too,
# with the same FUZZ_CASES and FUZZ_SEED.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
export FUZZ_CASES=${FUZZ_CASES:-100000} FUZZ_SEED=${FUZZ_SEED:-9}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

tools/deps.sh || exit 1
make -s >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

. tools/pgcluster.sh
pgc_init "$SRC/.fuzz"
pgc_stage || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }
pgc_start || { echo "cluster failed to start"; echo "0 passed, 1 failed"; exit 1; }
export PATH=$PGC_TOOLS:$PGC_BIN:$PATH SA_SRC=$SRC SA_TEST_DIR=$PGC_DIR
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE fuzz" &&
psql -X -q -v ON_ERROR_STOP=1 -d fuzz -c "CREATE EXTENSION session_analytics" ||
    { echo "0 passed, 1 failed"; exit 1; }

out=$(PGDATABASE=fuzz "$PY" test/fuzz/fuzz.py --tap --server-log "$PGC_DIR/server.log" \
      --out "$PGC_DIR/failures" ${FUZZ_TARGET:+--target "$FUZZ_TARGET"} 2>&1)
echo "$out"
passed=$(grep -c '^ok ' <<<"$out")
failed=$(grep -c '^not ok ' <<<"$out")
grep -qE '^1\.\.[0-9]+' <<<"$out" || failed=$((failed + 1))
if [ -f test/fuzz/fuzz_stats.py ]; then
    if PGDATABASE=fuzz "$PY" test/fuzz/fuzz_stats.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
pgc_stop
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
