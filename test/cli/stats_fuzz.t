#!/usr/bin/env bash
# Bounded, deterministic fuzzing of sessions.session_stats (test/fuzz/fuzz_stats.py):
# mutated text and binary forms, hostile in-memory layouts as a table column
# may hold them, and hostile aggregate arguments; every function taking a
# session_stats on each accepted value. Asserts no crash, no SQLSTATE outside
# the user-error set (never XX000/XX001), and that every accepted value
# round-trips. FUZZ_CASES (default 3000, a few seconds) and FUZZ_SEED
# (default 9) change the run; the TAP lines come from the generator.
. "$(dirname "$0")/tap.sh"
export PGOPTIONS="-c client_min_messages=warning"
fresh_db stats_fuzz || { echo "1..1"; echo "not ok 1 - create the fuzz database"; exit 1; }
FUZZ_CASES=${FUZZ_CASES:-3000} /usr/bin/python3 "$SA_SRC/test/fuzz/fuzz_stats.py" --tap "dbname=stats_fuzz"
rc=$?
psql -X -q -d postgres -c "DROP DATABASE stats_fuzz WITH (FORCE)"
exit $rc
