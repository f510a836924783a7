#!/usr/bin/env bash
# make test: build, install into a private copy of PostgreSQL, start a
# throwaway cluster, run every suite, stop the cluster, and end with one line
# "N passed, N failed". Exits non-zero when anything failed.
#
#   sql/ + expected/   pg_regress suites (one test each)
#   specs/ + expected/ isolation specs (one test each)
#   test/pgtap/*.sql   pgTAP suites, each in a fresh database, run by pg_prove
#   test/cli/*.t       TAP scripts for the command-line tools and whole-cluster
#                      behaviour (dump/restore, restarts), run by prove
# TESTS='pattern' limits every suite to files whose name matches the pattern.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

tools/deps.sh || exit 1
make -s >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

. tools/pgcluster.sh
pgc_init "$SRC/.test"
pgc_stage || { echo "install failed"; echo "0 passed, 1 failed"; exit 1; }
pgc_start || { echo "cluster failed to start"; echo "0 passed, 1 failed"; exit 1; }
export PATH=$PGC_TOOLS:$PGC_BIN:$PATH SA_SRC=$SRC SA_TEST_DIR=$PGC_DIR
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

passed=0 failed=0
pattern=${TESTS:-.}
LOG=$PGC_DIR/test.log
: >"$LOG"

# Runs one TAP harness command (prove / pg_prove), logs and shows its output
# and adds its summary to the totals.
run_tap() {
    local out
    out=$("$@" 2>&1)
    echo "$out" >>"$LOG"
    echo "$out" | grep -vE '^(All tests successful|Files=|Result:)' | sed 's/^/  /'
    count_tap "$out"
}

# Adds one TAP harness summary (prove / pg_prove output in $1) to the totals.
count_tap() {
    local out=$1 tests failures result
    tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' <<<"$out" | tail -1)
    failures=$(sed -n 's/.*Tests: [0-9]* Failed: \([0-9]*\)).*/\1/p' <<<"$out" | awk '{s+=$1} END {print s+0}')
    result=$(sed -n 's/^Result: //p' <<<"$out" | tail -1)
    tests=${tests:-0}
    passed=$((passed + tests - failures))
    failed=$((failed + failures))
    # A bad plan or a crash fails the file even when no assertion failed.
    if [ "$result" != PASS ] && [ "$failures" -eq 0 ]; then failed=$((failed + 1)); fi
}

# --- pg_regress -----------------------------------------------------------
# The Makefile's REGRESS list through make installcheck, the same target a
# user runs against their own server, pointed at the throwaway cluster by the
# PG* variables pgc_start exported.
regress=()
for n in $(make -s --no-print-directory print-regress); do
    grep -qE "$pattern" <<<"$n" && regress+=("$n")
done
if [ ${#regress[@]} -gt 0 ]; then
    echo "== pg_regress"
    rm -rf results regression.diffs regression.out
    out=$(make -s --no-print-directory installcheck REGRESS="${regress[*]}" ISOLATION= 2>&1)
    echo "$out" | grep -E '^(test | *[a-z_0-9]+ +\.\.\.)|tests (passed|failed)|FAILED' | sed 's/^/  /'
    ok=$(grep -cE '\.\.\. ok' <<<"$out")
    bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' <<<"$out")
    passed=$((passed + ok)); failed=$((failed + bad))
    [ "$bad" -gt 0 ] && [ -f regression.diffs ] && head -c 20000 regression.diffs
    [ $((ok + bad)) -eq ${#regress[@]} ] || { failed=$((failed + 1)); echo "$out" | tail -20; }
fi

# --- isolation specs --------------------------------------------------------
# The Makefile's ISOLATION list through make installcheck (pg_isolation_regress
# and isolationtester from PGXS, postgresql-server-dev-15), in its own database.
iso=()
for n in $(make -s --no-print-directory print-isolation); do
    grep -qE "$pattern" <<<"$n" && iso+=("$n")
done
if [ ${#iso[@]} -gt 0 ]; then
    echo "== isolation"
    rm -rf output_iso
    out=$(make -s --no-print-directory installcheck REGRESS= ISOLATION="${iso[*]}" 2>&1)
    echo "$out" | grep -E '^(test | *[a-z_0-9]+ +\.\.\.)|tests (passed|failed)|FAILED' | sed 's/^/  /'
    ok=$(grep -cE '\.\.\. ok' <<<"$out")
    bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' <<<"$out")
    passed=$((passed + ok)); failed=$((failed + bad))
    [ "$bad" -gt 0 ] && [ -f output_iso/regression.diffs ] && head -c 20000 output_iso/regression.diffs
    [ $((ok + bad)) -eq ${#iso[@]} ] || { failed=$((failed + 1)); echo "$out" | tail -20; }
fi

# --- pgTAP ----------------------------------------------------------------
"${PSQL[@]}" -c "CREATE DATABASE tap_template" &&
"${PSQL[@]}" -d tap_template -c "CREATE EXTENSION pgtap; CREATE EXTENSION dblink; CREATE EXTENSION session_analytics" ||
    { failed=$((failed + 1)); }
i=0
for f in test/pgtap/*.sql; do
    [ -e "$f" ] || continue
    grep -qE "$pattern" <<<"$(basename "$f")" || continue
    i=$((i + 1)); db=tap_$i
    "${PSQL[@]}" -c "CREATE DATABASE $db TEMPLATE tap_template" >/dev/null
    echo "== pgTAP $f"
    run_tap pg_prove -h "$PGHOST" -p "$PGPORT" -U postgres -d "$db" "$f"
    "${PSQL[@]}" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null 2>&1
done

# --- command-line and whole-cluster tests -----------------------------------
for f in test/cli/*.t; do
    [ -e "$f" ] || continue
    grep -qE "$pattern" <<<"$(basename "$f")" || continue
    echo "== prove $f"
    run_tap prove "$f"
done

pgc_stop
if [ -s "$PGC_DIR/server.log" ] && grep -qE 'terminated by signal|PANIC' "$PGC_DIR/server.log"; then
    echo "server log shows a crash:"; grep -E 'terminated by signal|PANIC' "$PGC_DIR/server.log"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
