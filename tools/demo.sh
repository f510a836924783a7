#!/usr/bin/env bash
# make demo: build and install, start a throwaway cluster under ./.demo (or
# use the server the PG* variables name), create the extension, load the
# sample data and print the report. Steps are the files demo/NN-*.sql (run by
# psql) and demo/NN-*.sh (run by bash), in name order.
#   tools/demo.sh --keep   leave the throwaway cluster running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
KEEP=
[ "${1:-}" = --keep ] && KEEP=1

tools/deps.sh
make -s >/dev/null
if [ "$(id -u)" -eq 0 ]; then make -s install >/dev/null; else sudo make -s install >/dev/null; fi

. tools/pgcluster.sh
if [ -n "${PGHOST:-}${PGPORT:-}${PGDATABASE:-}${PGSERVICE:-}" ]; then
    echo "demo: using the server named by the PG* variables" >&2
    DEMO_DB=${PGDATABASE:-session_analytics_demo}
    [ -n "${PGDATABASE:-}" ] || psql -X -q -d postgres -c "CREATE DATABASE $DEMO_DB" 2>/dev/null || true
else
    pgc_init "$SRC/.demo"
    pgc_start
    DEMO_DB=session_analytics_demo
    psql -X -q -c "CREATE DATABASE $DEMO_DB"
    if [ -n "$KEEP" ]; then trap - EXIT; fi
fi
export PGDATABASE=$DEMO_DB SA_SRC=$SRC SA_DEMO_DIR=$SRC/.demo
mkdir -p "$SA_DEMO_DIR"
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -c "DROP EXTENSION IF EXISTS session_analytics CASCADE" -c "CREATE EXTENSION session_analytics"

for step in demo/[0-9]*; do
    case $step in
        *.sql) psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$step" ;;
        *.sh)  bash "$step" ;;
    esac
done

if [ -n "$KEEP" ] && [ -n "${PGC_RUNNING:-}" ]; then
    echo
    echo "The demo cluster keeps running: psql -h $PGHOST -p $PGPORT -U postgres $DEMO_DB"
    echo "Stop it with: $(if [ "$(id -u)" -eq 0 ]; then echo "runuser -u postgres -- "; fi)$PGC_BIN/pg_ctl -D $PGC_DATA stop"
fi
