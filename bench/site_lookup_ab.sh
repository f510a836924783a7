#!/usr/bin/env bash
# bench/site_lookup_ab.sh: session-report's --site look-up, the statement of
# before (DISTINCT site over sessions.report_sessions of all time, a scan)
# against today's (sessions.report_sites over all time, from the live
# summaries), backend CPU ms per run, alternated round by round in one
# throwaway cluster; and the same look-up with report_summaries = off (the
# fallback, a scan). Not part of `make bench` (no NN- prefix);
# docs/benchmarks.md, issue 13. NSTORE (store rows, default 1000000) and
# ROUNDS (default 7) size it. CPU time is utime + stime of /proc/self/stat.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
make -s >/dev/null
. tools/pgcluster.sh
pgc_init "$SRC/.test/site_lookup_ab"
pgc_stage
pgc_start "shared_buffers = 1GB" "work_mem = 64MB" "synchronous_commit = off" \
          "max_parallel_workers_per_gather = 0" "jit = off"
export PATH=$PGC_BIN:$PATH
psql -X -q -c "CREATE DATABASE ab"; export PGDATABASE=ab
NSTORE=${NSTORE:-1000000} ROUNDS=${ROUNDS:-7}
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION session_analytics;
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site)
SELECT 'powerflex', 'site-' || (g % 3), 'B' || g, 'FINISHED', st,
       CASE WHEN r2 < 0.02 THEN NULL ELSE st + (60 + r3 * 36000) * interval '1 second' END,
       CASE WHEN r1 < 0.60 THEN 0 WHEN r1 < 0.65 THEN r3 ELSE 1 + r3 * 40 END,
       'user' || (g % 5000) || '@example.com', (ARRAY['Downtown', 'Airport', 'Harbor'])[1 + g % 3]
  FROM (SELECT g, timestamptz '2024-01-01 00:00+00' + random() * interval '730 days' AS st,
               random() AS r1, random() AS r2, random() AS r3
          FROM generate_series(1, $NSTORE) g) s;
SELECT sessions.compact_summaries();
VACUUM ANALYZE sessions.store;
VACUUM ANALYZE sessions.summary_delta;
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
SELECT round(($t - :t0) * 1000.0 / $(getconf CLK_TCK) / $n, 2);
SQL
}
med() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
BEFORE="SELECT DISTINCT s.site FROM sessions.report_sessions(NULL, NULL, true) s WHERE s.site IS NOT NULL"
AFTER="SELECT x.site FROM sessions.report_sites(NULL::tstzrange, micro_threshold => NULL, include_active => true) x(site) WHERE x.site IS NOT NULL"
OFF="SET session_analytics.report_summaries = off; $AFTER"
a=() b=() c=()
for i in $(seq "$ROUNDS"); do
    a+=("$(cpu_ms 3 "$BEFORE")"); b+=("$(cpu_ms 100 "$AFTER")"); c+=("$(cpu_ms 3 "$OFF")")
done
ma=$(printf '%s\n' "${a[@]}" | med) mb=$(printf '%s\n' "${b[@]}" | med) mc=$(printf '%s\n' "${c[@]}" | med)
echo "# --site look-up, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $NSTORE sessions, 3 sites, 2 years; backend CPU ms per run, median of $ROUNDS rounds"
echo "| look-up | CPU ms | before / this |"
echo "|---|---:|---:|"
echo "| before: DISTINCT site of report_sessions (all time) | $ma | |"
echo "| report_sites over all time, summaries | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.0f", a / b }')× |"
echo "| the same, report_summaries = off (scan) | $mc | $(awk -v a="$ma" -v b="$mc" 'BEGIN { printf "%.2f", a / b }') |"
