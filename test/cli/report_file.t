#!/usr/bin/env bash
# session-report --file: a report on an export with no database to set up.
# The throwaway cluster's report equals the one from an imported database;
# it works for root and for an ordinary user; nothing is left behind, after
# an error or a signal included.
. "$(dirname "$0")/tap.sh"
plan 26

DATA=$SA_SRC/test/cli/data
T=$SA_TEST_DIR/report_file
rm -rf "$T"; mkdir -p "$T/db" "$T/file"
chmod 777 "$T" "$T/file"
cp "$DATA/powerflex_small.json" "$T/export.json"
chmod 644 "$T/export.json"
ARGS=(--empty --micro --user --graph chart.svg --from 2025-09-07 --to 2025-09-11)

# The reference: the same file imported into a database of the test cluster.
fresh_db report_file 2>/dev/null
session-report -d report_file import powerflex "$T/export.json" >/dev/null
(cd "$T/db" && session-report -d report_file "${ARGS[@]}" >report.txt &&
    session-report -d report_file "${ARGS[@]}" --format json >report.json)

# No PG* variable may help: --file needs no server.
nopg=(env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE)

# thrown_dir ERRFILE: the throwaway directory a --debug run reported.
thrown_dir() { sed -n 's/.*Throwaway cluster in \([^ ]*\) .*/\1/p' "$1" | head -1; }
# gone DIR NAME: DIR removed and no process runs on it.
gone() {
    [ -n "$1" ] && [ ! -e "$1" ] && ! pgrep -f -- "$1/data" >/dev/null
    ok $? "$2"
}

cd "$T/file" || exit 1
"${nopg[@]}" session-report --file "$T/export.json" "${ARGS[@]}" --debug >report.txt 2>debug.err
is "$?" 0 "--file: the report with no database to set up (as $(id -un))"
is "$(diff "$T/db/report.txt" report.txt && echo same)" same "--file: text report identical to the imported database's"
is "$(cmp "$T/db/chart.svg" chart.svg && echo same)" same "--file: the same chart"
"${nopg[@]}" session-report --file "$T/export.json" "${ARGS[@]}" --format json >report.json 2>/dev/null
is "$(diff "$T/db/report.json" report.json && echo same)" same "--file: JSON report identical too"
dir=$(thrown_dir debug.err)
like "$dir" "^/.+/session-report\.[A-Za-z0-9]{6}$" "--debug names the throwaway directory"
gone "$dir" "--file: the server stopped and its directory removed"
if [ "$(id -u)" -eq 0 ]; then
    like "$(cat debug.err)" "Running as root: the throwaway server runs as (postgres|nobody)" "as root: the server runs unprivileged"
else
    unlike "$(cat debug.err)" "Running as root" "as an ordinary user: the server runs as that user"
fi

# No analysis flag: the raw dump, as from the imported database.
session-report -d report_file --from 2025-09-07 --to 2025-09-11 --limit 0 >raw_db.json
"${nopg[@]}" session-report --file "$T/export.json" --from 2025-09-07 --to 2025-09-11 --limit 0 >raw_file.json 2>/dev/null
is "$(cmp raw_db.json raw_file.json && python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' raw_file.json)" 40 \
   "--file with no analysis flag: the same raw JSON"

# Without --range or --from: the days the file covers.
out=$("${nopg[@]}" session-report --file "$T/export.json" --empty 2>/dev/null)
like "$out" "^- 2025-09-07: 3 empty / 6 total" "--file without a range: from the file's first day"
like "$out" "^- 2025-09-11: 5 empty / 8 total" "... to its last"
# The quickest start, as documented.
"${nopg[@]}" session-report --file "$T/export.json" --empty --micro --graph >quick.txt 2>&1
is "$?" 0 "session-report --file export.json --empty --micro --graph"
test -s sessions-daily.svg; ok $? "... writes sessions-daily.svg"

# The other kind of user: an ordinary one when the test runs as root (the
# CI does), else this same ordinary user again.
if [ "$(id -u)" -eq 0 ]; then
    as=(runuser -u postgres --); who="an ordinary user (postgres)"
else
    as=(); who="an ordinary user ($(id -un))"
fi
mkdir -p "$T/other"; chmod 777 "$T/other"
(cd "$T/other" && "${as[@]}" "${nopg[@]}" PATH="$PATH" HOME="$T/other" session-report --file "$T/export.json" "${ARGS[@]}" --debug >report.txt 2>debug.err)
is "$?" 0 "--file as $who"
is "$(diff "$T/db/report.txt" "$T/other/report.txt" && echo same)" same "--file as $who: the same report"
unlike "$(cat "$T/other/debug.err")" "Running as root" "--file as $who: no user switch"
gone "$(thrown_dir "$T/other/debug.err")" "--file as $who: nothing left behind"

# Errors clean up too: a file that is not an export (exit 7), a report
# with no sessions (exit 6).
echo '{"nope": 1}' >bad.json
"${nopg[@]}" session-report --file bad.json --empty --debug >/dev/null 2>bad.err
is "$?" 7 "--file with a file that is not an export: exit 7"
gone "$(thrown_dir bad.err)" "... and nothing left behind"
"${nopg[@]}" session-report --file "$T/export.json" --empty --from 2020-01-01 --to 2020-01-02 --debug >/dev/null 2>nodata.err
is "$?/$(grep -vc '^🔧' nodata.err)" "6/1" "--file, empty range: exit 6, one line"
gone "$(thrown_dir nodata.err)" "... and nothing left behind"

# A signal while the server runs: the import waits on a FIFO with no writer.
rm -f fifo; mkfifo fifo
"${nopg[@]}" session-report --file fifo --empty --debug >/dev/null 2>sig.err &
pid=$!
for _ in $(seq 1 200); do grep -q 'Throwaway server ready' sig.err && break; sleep 0.1; done
dir=$(thrown_dir sig.err)
kill -TERM "$pid"; wait "$pid"; rc=$?
is "$rc" 143 "SIGTERM: the client dies of it"
gone "$dir" "SIGTERM: the server stopped and its directory removed"

# Killed outright (no cleanup can run): the kernel still stops the server.
"${nopg[@]}" session-report --file fifo --empty --debug >/dev/null 2>kill.err &
pid=$!
for _ in $(seq 1 200); do grep -q 'Throwaway server ready' kill.err && break; sleep 0.1; done
dir=$(thrown_dir kill.err)
kill -KILL "$pid"; wait "$pid" 2>/dev/null
for _ in $(seq 1 100); do pgrep -f -- "$dir/data" >/dev/null || break; sleep 0.1; done
! pgrep -f -- "$dir/data" >/dev/null; ok $? "SIGKILL: the server goes too (parent-death signal)"
[ -n "$dir" ] && rm -rf "$dir"

# Flags that make no sense with --file.
session-report --file "$T/export.json" -d report_file --empty >/dev/null 2>err; rc=$?
is "$rc/$(cat err)" "2/session-report: --file runs its own throwaway server: drop -d/--dbname" "--file with -d: exit 2"
session-report --file "$T/export.json" import powerflex "$T/export.json" >/dev/null 2>/dev/null
is "$?" 2 "--file with import: exit 2"
printf '#!/bin/sh\necho /nonexistent/bin\n' >pgc; chmod 755 pgc
PG_CONFIG=$PWD/pgc "${nopg[@]}" session-report --file "$T/export.json" --empty >/dev/null 2>err; rc=$?
like "$rc/$(cat err)" "^1/session-report: --file needs PostgreSQL's server programs: no /nonexistent/bin/postgres" "no server programs: exit 1, says what to install"

cd / && psql -X -q -d postgres -c "DROP DATABASE report_file WITH (FORCE)"
