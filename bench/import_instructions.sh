#!/usr/bin/env bash
# bench/import_instructions.sh [REV]: issue 14's PowerFlex figures as
# instructions executed, which the load of a shared machine does not move
# (docs/benchmarks.md). Not part of `make bench` (no NN- prefix); needs
# valgrind.
#   N PowerFlex rows shaped like bench/ingest_ab.sh's, in the client's
#   2,000-row batches, each statement alone in a single-user backend under
#   callgrind (counting inside PortalRun, so start-up and planning are left out):
#   COPY of the rows as jsonb into a temporary and into a plain table (the
#   floors), then sessions.import_powerflex of the batches: new rows, the
#   same file again, and a file whose every row changed. With REV, that
#   revision's import (its install script and library, built in a
#   temporary worktree) is counted in a second cluster of the same run.
#   Instructions leave out cache misses, which make random index inserts
#   dearer in time than in instructions: bench/ingest_ab.sh measures time.
#   Each statement's WAL (bytes per row, after a checkpoint, so full-page
#   images included) is printed too: the writes that instructions miss.
# N (default 10000) sizes it: a run takes about two minutes per 10,000.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD N=${N:-10000} REV=${1:-}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
make -s >/dev/null
. tools/pgcluster.sh

# measure TREE LABEL: prints "LABEL copy_temp copy_plain new same changed",
# each as INSTRUCTIONS/WAL per row.
measure() {
    local tree=$1 label=$2
    (
        cd "$tree"
        . tools/pgcluster.sh
        pgc_init "$SRC/.test/import_instructions_$label"
        pgc_stage
        pgc_start "shared_preload_libraries = 'session_analytics'" "session_analytics.database = 'ab'"
        export PATH=$PGC_BIN:$PATH PGOPTIONS="-c client_min_messages=warning"
        P=(psql -X -q -v ON_ERROR_STOP=1)
        psql -X -q -c "CREATE DATABASE ab"; export PGDATABASE=ab
        "${P[@]}" -c "CREATE EXTENSION session_analytics"
        DIR=$PGC_DIR/data_ab
        mkdir -p "$DIR"
        # bench/ingest_ab.sh's generator of the rows
        sed -n '/^python3 - "\$NPF"/,/^PY$/p' "$SRC/bench/ingest_ab.sh" | sed '1d;$d' >"$DIR/gen.py"
        python3 "$DIR/gen.py" "$N" "$DIR/rows.ndjson"
        chmod -R a+rX "$DIR"
        "${P[@]}" <<SQL
CREATE TABLE pf (doc jsonb);
COPY pf FROM '$DIR/rows.ndjson';
CREATE TABLE pft (b int, t text);
INSERT INTO pft SELECT n / 2000, jsonb_build_object('offset', (n / 2000) * 2000, 'rows', jsonb_agg(doc ORDER BY n))::text
  FROM (SELECT doc, row_number() OVER () - 1 AS n FROM pf) x GROUP BY 1;
CREATE TABLE pft2 (b int, t text);
INSERT INTO pft2 SELECT b, replace(t, '2025-09-15T07:13:13.838Z', '2025-09-16T08:00:00.000Z') FROM pft;
SQL
        pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -m fast -w stop >/dev/null
        PGC_RUNNING=
        trap - EXIT
        single() {
            pgc_as "$PGC_BIN/postgres" --single -D "$PGC_DATA" -c shared_preload_libraries=session_analytics ab \
                >"$PGC_DIR/single.log" 2>&1 <<<"$1"
            if grep -q ERROR "$PGC_DIR/single.log"; then grep ERROR "$PGC_DIR/single.log" >&2; exit 1; fi
        }
        count() {
            local out=$PGC_DIR/cg.out
            rm -f "$out"
            single "CHECKPOINT;"
            printf '%s\n' "SELECT pg_catalog.set_config('ab.wal0', pg_catalog.pg_current_wal_insert_lsn()::text, false);" "$1" \
                "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), pg_catalog.current_setting('ab.wal0')::pg_lsn)::bigint AS walbytes;" |
                pgc_as valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect=PortalRun \
                    "$PGC_BIN/postgres" --single -D "$PGC_DATA" -c shared_preload_libraries=session_analytics ab \
                    >"$PGC_DIR/single.log" 2>&1
            if grep -q ERROR "$PGC_DIR/single.log"; then grep ERROR "$PGC_DIR/single.log" >&2; exit 1; fi
            callgrind_annotate "$out" 2>/dev/null | awk -v n="$N" '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%d", $1 / n }'
            sed -n 's/.*walbytes = "\([0-9]*\)".*/\1/p' "$PGC_DIR/single.log" | awk -v n="$N" '{ printf "/%d", $1 / n }'
        }
        imp() { echo "SELECT sum(imported + updated) FROM (SELECT * FROM $1 ORDER BY b) p, sessions.import_powerflex(p.t::jsonb);"; }
        ct=$(count "CREATE TEMP TABLE c (doc jsonb); COPY c FROM '$DIR/rows.ndjson';")
        cp=$(count "CREATE TABLE cp (doc jsonb); COPY cp FROM '$DIR/rows.ndjson';")
        single "$(printf "%s\n" "DROP TABLE cp;" "TRUNCATE sessions.store, sessions.ocpi_charging_preferences CASCADE;" "TRUNCATE sessions.event_log, sessions.import_rejects;" "VACUUM sessions.store;")"
        new=$(count "$(imp pft)")
        same=$(count "$(imp pft)")
        changed=$(count "$(imp pft2)")
        echo "$label $ct $cp $new $same $changed"
    )
}
this=$(measure "$SRC" this)
rev=
if [ -n "$REV" ]; then
    wt=$(mktemp -d); chmod 755 "$wt"  # the cluster runs as postgres in it
    git worktree add -q --detach "$wt" "$REV"
    cp tools/pgcluster.sh "$wt/tools/pgcluster.sh"
    rev=$(measure "$wt" rev) || { git worktree remove --force "$wt"; exit 1; }
    git worktree remove --force "$wt"
fi
echo "# PowerFlex import, instructions per row (callgrind), $(date -u +%Y-%m-%d), $N rows in 2,000-row batches"
echo "| subject | instructions per row | floor (temporary table) / subject | floor (plain table) / subject | WAL bytes per row |"
echo "|---|---:|---:|---:|---:|"
for line in "$this" ${rev:+"$rev"}; do
    read -r label ct cp new same changed <<<"$line"
    name=$([ "$label" = this ] && echo "this tree" || echo "$REV")
    echo "| COPY as jsonb into a temporary table ($name) | ${ct%/*} | 1.00 | | ${ct#*/} |"
    echo "| COPY as jsonb into a plain table ($name) | ${cp%/*} | | 1.00 | ${cp#*/} |"
    ct=${ct%/*} cp=${cp%/*}
    for k in new same changed; do
        v=${!k%/*} w=${!k#*/}
        echo "| import_powerflex, $k ($name) | $v | $(awk -v a="$ct" -v b="$v" 'BEGIN { printf "%.3f", a / b }') | $(awk -v a="$cp" -v b="$v" 'BEGIN { printf "%.3f", a / b }') | $w |"
    done
done
