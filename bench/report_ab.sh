#!/usr/bin/env bash
# bench/report_ab.sh [REV]: backend CPU time of the report functions of REV
# (default: the merge base with main; created in a schema of their own,
# ab_old) against this tree's, alternated round by round in one throwaway
# cluster. Not part of
# `make bench` (its name has no NN- prefix); docs/benchmarks.md, issue 11.
# NSTORE (store rows, default 200000) and ROUNDS (default 7) size it.
# CPU time is utime + stime of /proc/self/stat, read by the backend itself
# around N runs of a query, so waiting for a core on a shared machine does
# not count.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD REV=${1:-$(git merge-base HEAD main)}
make -s >/dev/null
old_sql=$(mktemp)
git show "$REV:src/sql/20_analytics.sql" | python3 -c '
import sys
s = sys.stdin.read()
print("CREATE SCHEMA ab_old;")
for n in ("daily_report", "summary_report", "user_report"):
    i = s.index("CREATE FUNCTION sessions.%s(" % n); j = s.index("$$;", i) + 3
    print(s[i:j].replace("CREATE FUNCTION sessions.", "CREATE FUNCTION ab_old.", 1))' >"$old_sql"
. tools/pgcluster.sh
pgc_init "$SRC/.test/report_ab"
pgc_stage
pgc_start "shared_buffers = 1GB" "work_mem = 64MB" "synchronous_commit = off" \
          "max_parallel_workers_per_gather = 0" "jit = off"
export PATH=$PGC_BIN:$PATH
psql -X -q -c "CREATE DATABASE ab"; export PGDATABASE=ab
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION session_analytics" -f "$old_sql"
rm -f "$old_sql"
NSTORE=${NSTORE:-200000} ROUNDS=${ROUNDS:-7}
psql -X -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site)
SELECT 'powerflex', 'bench', 'B' || g, 'FINISHED', st,
       CASE WHEN r2 < 0.02 THEN NULL ELSE st + (60 + r3 * 36000) * interval '1 second' END,
       CASE WHEN r1 < 0.60 THEN 0 WHEN r1 < 0.65 THEN r3 ELSE 1 + r3 * 40 END,
       'user' || (g % 5000) || '@example.com', CASE WHEN g % 2 = 0 THEN 'Downtown' ELSE 'Airport' END
  FROM (SELECT g, timestamptz '2025-01-01 00:00+00' + random() * interval '365 days' AS st,
               random() AS r1, random() AS r2, random() AS r3
          FROM generate_series(1, $NSTORE) g) s;
VACUUM ANALYZE sessions.store;
SQL
# cpu_ms N QUERY: backend CPU ms per run of QUERY over N runs in one session, after a warm-up run.
cpu_ms() {
    local n=$1 q=$2 body="" i
    local t="split_part(pg_read_file('/proc/self/stat'), ' ', 14)::int + split_part(pg_read_file('/proc/self/stat'), ' ', 15)::int"
    for i in $(seq "$n"); do body+="$q;"$'\n'; done
    psql -X -At -v ON_ERROR_STOP=1 <<SQL | tail -1
$q;
SELECT $t AS t0 \gset
\o /dev/null
$body
\o
SELECT round(($t - :t0) * 1000.0 / $(getconf CLK_TCK) / $n, 1);
SQL
}
med() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
R="tstzrange('2025-06-01', '2025-07-01')"
queries=(
    "20|SELECT count(*) FROM %s.daily_report(NULL, 'America/Los_Angeles')"
    "20|SELECT * FROM %s.summary_report(NULL, 'America/Los_Angeles')"
    "20|SELECT * FROM %s.summary_report($R, 'America/Los_Angeles', 1.0, 'Downtown')"
    "4|SELECT count(*) FROM %s.user_report(NULL, NULL, 'America/Los_Angeles')"
    "10|SELECT count(*) FROM %s.user_report(NULL, $R, 'America/Los_Angeles')")
echo "| query ($NSTORE store rows, median of $ROUNDS rounds; before: $REV) | before CPU ms | after CPU ms | after / before |"
echo "|---|---:|---:|---:|"
for e in "${queries[@]}"; do
    n=${e%%|*} q=${e#*|} a=() b=()
    for i in $(seq "$ROUNDS"); do
        a+=("$(cpu_ms "$n" "$(printf "$q" ab_old)")"); b+=("$(cpu_ms "$n" "$(printf "$q" sessions)")")
    done
    ma=$(printf '%s\n' "${a[@]}" | med) mb=$(printf '%s\n' "${b[@]}" | med)
    echo "| \`${q//%s./}\` | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", b / a }') |"
done
