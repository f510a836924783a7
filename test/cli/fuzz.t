#!/usr/bin/env bash
# Bounded fuzzing: test/fuzz/fuzz.py with its fixed default seed and count
# (FUZZ_CASES / FUZZ_SEED override them), one TAP line per target and one
# for the server log. `make fuzz` runs the same generator for longer.
. "$(dirname "$0")/tap.sh"
fresh_db fuzz_t 2>/dev/null || { echo "1..1"; echo "not ok 1 - database for the fuzzer"; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PGDATABASE=fuzz_t exec "$PY" "$SA_SRC/test/fuzz/fuzz.py" --tap \
    --server-log "$SA_TEST_DIR/server.log" --out "$SA_TEST_DIR/fuzz-failures"
