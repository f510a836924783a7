#!/usr/bin/env bash
# bench/ocpi_put_instructions.sh [REV]: issue 14's per-statement OCPI figure
# as instructions executed, which the load of a shared machine does not move
# (docs/benchmarks.md). Not part of `make bench` (no NN- prefix); needs
# valgrind.
#   The same N Sessions (bench/ingest_ab.sh's documents, 80 % finished) are
#   written by a PL/pgSQL loop of one statement each, as an OCPI backend
#   issues them: sessions.ocpi_put against the plain upsert of the typed
#   rows. Each loop runs alone in a single-user backend under callgrind,
#   counting only inside the DO block (the loop itself counts on both
#   sides). With REV, the ocpi_put of that revision's library is counted
#   in the same run (its tree built in a temporary worktree).
# N (default 2000) sizes it: a run takes about a minute per 2,000.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD N=${N:-2000} REV=${1:-}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
make -s >/dev/null
. tools/pgcluster.sh
pgc_init "$SRC/.test/put_instructions"
pgc_stage
LIB=$PGC_DIR/stage$PGC_PKGLIBDIR/session_analytics.so
cp "$LIB" "$PGC_DIR/this.so"
if [ -n "$REV" ]; then
    wt=$(mktemp -d)
    git worktree add -q --detach "$wt" "$REV"
    make -s -C "$wt" >/dev/null
    cp "$wt/session_analytics.so" "$PGC_DIR/rev.so"
    git worktree remove --force "$wt"
fi
chmod a+r "$PGC_DIR"/*.so
pgc_start "shared_preload_libraries = 'session_analytics'" "session_analytics.database = 'ab'"
export PATH=$PGC_BIN:$PATH PGOPTIONS="-c client_min_messages=warning"
P=(psql -X -q -v ON_ERROR_STOP=1)
psql -X -q -c "CREATE DATABASE ab"; export PGDATABASE=ab
"${P[@]}" -c "CREATE EXTENSION session_analytics"
# The OCPI documents of bench/ingest_ab.sh, typed (a logged table: the
# single-user runs follow a server stop).
python3 - "$N" <<'PY' | "${P[@]}"
import re, sys
s = open("bench/ingest_ab.sh").read()
i = s.index("CREATE UNLOGGED TABLE bench_ocpi AS"); j = s.index("CREATE UNLOGGED TABLE bench_ocpi_docs")
print(s[i:j].replace("CREATE UNLOGGED TABLE", "CREATE TABLE").replace(":n", sys.argv[1]))
PY
pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -m fast -w stop >/dev/null
PGC_RUNNING=
trap - EXIT

COLS="kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated, doc"
LOOP="DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT * FROM bench_ocpi ORDER BY sid LOOP"
PUT="$LOOP PERFORM sessions.ocpi_put(r.cc, r.pid, r.sid, r.doc); END LOOP; END \$\$;"
PLAIN="$LOOP INSERT INTO sessions.store AS s ($COLS) VALUES ('ocpi', r.namespace, r.external_id, r.status, r.started_at, r.ended_at, r.kwh, r.user_ref, r.site, r.evse, r.connector, r.last_updated, r.doc) ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at, kwh = excluded.kwh, user_ref = excluded.user_ref, site = excluded.site, evse = excluded.evse, connector = excluded.connector, last_updated = excluded.last_updated, doc = excluded.doc; END LOOP; END \$\$;"

# count LIB STATEMENT: instructions inside the DO block, per session.
count() {
    local out=$PGC_DIR/cg.out
    cp "$1" "$LIB.tmp" && mv "$LIB.tmp" "$LIB"
    rm -f "$out"
    printf '%s\n' "TRUNCATE sessions.store, sessions.ocpi_charging_preferences CASCADE;" \
                  "TRUNCATE sessions.event_log;" "CHECKPOINT;" "$2" |
        pgc_as valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect=plpgsql_inline_handler \
            "$PGC_BIN/postgres" --single -D "$PGC_DATA" -c shared_preload_libraries=session_analytics ab \
            >"$PGC_DIR/single.log" 2>&1
    if grep -q ERROR "$PGC_DIR/single.log"; then grep ERROR "$PGC_DIR/single.log" >&2; exit 1; fi
    callgrind_annotate "$out" 2>/dev/null | awk -v n="$N" '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%d", $1 / n }'
}
plain=$(count "$PGC_DIR/this.so" "$PLAIN")
put=$(count "$PGC_DIR/this.so" "$PUT")
echo "# ocpi_put per statement, instructions per session (callgrind), $(date -u +%Y-%m-%d), $N sessions"
echo "| loop of one statement per session | instructions | ratio plain / this |"
echo "|---|---:|---:|"
echo "| plain INSERT ... ON CONFLICT of the typed row | $plain | 1.00 |"
echo "| sessions.ocpi_put, this tree | $put | $(awk -v a="$plain" -v b="$put" 'BEGIN { printf "%.3f", a / b }') |"
if [ -n "$REV" ]; then
    old=$(count "$PGC_DIR/rev.so" "$PUT")
    echo "| sessions.ocpi_put, $REV | $old | $(awk -v a="$plain" -v b="$old" 'BEGIN { printf "%.3f", a / b }') |"
fi
cp "$PGC_DIR/this.so" "$LIB"
