#!/usr/bin/env bash
# session_analytics.import_memory_retain (src/powerflex/import_memory.c): a
# transaction that checks import rows keeps freed memory for reuse, once,
# and gives it back when it commits, aborts or is prepared; 0 leaves the C
# library's policy alone. Seen through the DEBUG1 lines the policy logs.
. "$(dirname "$0")/tap.sh"
plan 12

fresh_db import_memory 2>/dev/null
export PGDATABASE=import_memory
ROW='[{"session_id": "m1", "session_kwh": 1, "session_start_time": 1757235600000}]'
# run SQL...: the server's messages of one session with DEBUG1 on
run() { psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = debug1" "$@" 2>&1 >/dev/null; }
keeps() { grep -c "import memory: keeping up to $1 kB of freed memory" <<<"$2"; }
gives() { grep -c "import memory: freed memory given back at the end of the transaction" <<<"$1"; }

out=$(run -c "BEGIN" -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 0, NULL)" \
          -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 1, NULL)" -c "COMMIT")
is "$(keeps 32768 "$out")" 1 "default 32MB: two batches in one transaction retain once"
is "$(gives "$out")" 1 "default: given back once, at commit"
is "$(grep -n "import memory" <<<"$out" | cut -d: -f1 | tr '\n' ' ')" "1 2 " "retained before it is given back"

out=$(run -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 0, NULL)" \
          -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 1, NULL)")
is "$(keeps 32768 "$out")/$(gives "$out")" "2/2" "one batch per transaction: retained and given back in each"

out=$(run -c "BEGIN" -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 0, NULL)" -c "ROLLBACK")
is "$(keeps 32768 "$out")/$(gives "$out")" "1/1" "an aborted transaction gives it back too"

out=$(psql -X -q -c "SET client_min_messages = debug1" -c "BEGIN" \
          -c "SELECT count(*) FROM sessions.powerflex_rows('$ROW', 0, NULL)" -c "SELECT 1/0" -c "ROLLBACK" 2>&1 >/dev/null)
is "$(keeps 32768 "$out")/$(gives "$out")" "1/1" "a transaction that failed gives it back at its rollback"

out=$(run -c "SET session_analytics.import_memory_retain = '64MB'" \
          -c "SELECT * FROM sessions.import_powerflex('{\"rows\": $ROW}')")
is "$(keeps 65536 "$out")/$(gives "$out")" "1/1" "import_powerflex applies it, at the size set"

out=$(run -c "SET session_analytics.import_memory_retain = 0" \
          -c "SELECT * FROM sessions.import_powerflex('{\"rows\": $ROW}')")
unlike "$out" "import memory" "0: nothing retained, nothing to give back"
is "$(psql -X -At -c "SELECT count(*) FROM sessions.store WHERE external_id = 'm1'")" 1 "the rows do not depend on it"

out=$(run -c "SELECT count(*) FROM sessions.store")
unlike "$out" "import memory" "a transaction that imports nothing is left alone"

# (the library loaded first: before that the name is only a placeholder)
LOADED="SELECT count(*) FROM sessions.powerflex_rows('[]', 0, NULL)"
out=$(psql -X -q -c "$LOADED" -c "SET session_analytics.import_memory_retain = '2GB'" 2>&1 >/dev/null)
like "$out" "2097152 kB is outside the valid range for parameter \"session_analytics.import_memory_retain\" \(0 \.\. 1048576\)" \
     "more than 1GB is refused"
is "$(psql -X -At -c "$LOADED" -c "SELECT setting || ' ' || unit || ' ' || context FROM pg_settings WHERE name = 'session_analytics.import_memory_retain'")" \
   "0
32768 kB user" "pg_settings: 32768 kB, settable by any user"
