#!/usr/bin/env bash
# make valgrind: the pg_regress and pgTAP suites against a server whose every
# process runs under valgrind (memcheck). Reports that name the extension's
# library fail the run; PostgreSQL's own known reports are listed, not failed.
#   TESTS='pattern' limits the suites (the whole set takes a long time).
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
tools/deps.sh || exit 1
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
make -s >/dev/null || exit 1
. tools/pgcluster.sh
pgc_init "$SRC/.test/valgrind"
pgc_stage || exit 1
PGC_DATA=$PGC_DIR/data PGC_SOCK=$PGC_DIR/sock VG=$PGC_DIR/vg
rm -rf "$PGC_DATA" "$PGC_SOCK" "$VG"; mkdir -p "$PGC_SOCK" "$VG"
chown "$PGC_OSUSER" "$PGC_DIR" "$PGC_SOCK" "$VG"
pgc_as "$PGC_BIN/initdb" -D "$PGC_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null || exit 1
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 40\n" "$PGC_SOCK" |
    pgc_as tee -a "$PGC_DATA/postgresql.conf" >/dev/null
pgc_as valgrind --quiet --trace-children=yes --track-origins=no --error-limit=no \
    --log-file="$VG/vg.%p" "$PGC_BIN/postgres" -D "$PGC_DATA" >"$PGC_DIR/server.log" 2>&1 &
stop_server() { pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -m fast -w -t 300 stop >/dev/null 2>&1; }
trap stop_server EXIT
export PGHOST=$PGC_SOCK PGPORT=5432 PGUSER=postgres PATH=$PGC_TOOLS:$PGC_BIN:$PATH
for _ in $(seq 1 120); do pg_isready -q && break; sleep 1; done
pattern=${TESTS:-.}

regress=()
for f in sql/*.sql; do n=$(basename "$f" .sql); grep -qE "$pattern" <<<"$n" && regress+=("$n"); done
if [ ${#regress[@]} -gt 0 ]; then
    "$PGC_PKGLIBDIR/pgxs/src/test/regress/pg_regress" --bindir="$PGC_BIN" --inputdir=. \
        --dbname=contrib_regression --load-extension=session_analytics \
        --host="$PGHOST" --port=5432 --user=postgres "${regress[@]}" | grep -E '\.\.\.|tests'
fi
psql -X -q -c "CREATE DATABASE tap_template" &&
psql -X -q -d tap_template -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION dblink" -c "CREATE EXTENSION session_analytics"
i=0
for f in test/pgtap/*.sql; do
    grep -qE "$pattern" <<<"$(basename "$f")" || continue
    i=$((i + 1))
    psql -X -q -c "CREATE DATABASE vg_$i TEMPLATE tap_template"
    pg_prove -d "vg_$i" "$f" | tail -1 | sed "s|^|$f: |"
done
stop_server; trap - EXIT

ours=$(grep -l 'session_analytics' "$VG"/vg.* 2>/dev/null)
other=$(grep -L 'session_analytics' $(grep -l '==[0-9]*== [A-Z]' "$VG"/vg.* 2>/dev/null) 2>/dev/null | wc -l)
echo "valgrind: $other log(s) with reports outside the extension (PostgreSQL's own)"
if [ -n "$ours" ]; then
    echo "valgrind: reports naming session_analytics:"; for f in $ours; do echo "== $f"; head -60 "$f"; done
    exit 1
fi
echo "valgrind: no report names session_analytics"
