#!/usr/bin/env bash
# Analytics: the daily breakdown by session_stats_agg against the SQL an
# analyst writes by hand, and against the scan floor (count(*)), in one run.
# 5M sessions over a year (x BENCH_SCALE): ~60% empty, some micro, 5k users.
set -euo pipefail
SCALE=${BENCH_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 5000000 * s }')
NSTORE=$(awk -v s="$SCALE" 'BEGIN { n = 200000 * s; if (n < 1000) n = 1000; printf "%d", n }')
TZ_NAME=America/Los_Angeles
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

echo "## Analytics ($N generated sessions, zone $TZ_NAME)"
"${PSQL[@]}" <<SQL
SET synchronous_commit = off;
DROP TABLE IF EXISTS bench_sessions;
CREATE TABLE bench_sessions (started_at timestamptz, ended_at timestamptz, kwh float8, user_ref text);
INSERT INTO bench_sessions
SELECT st, CASE WHEN r2 < 0.02 THEN NULL ELSE st + (60 + r3 * 36000) * interval '1 second' END,
       CASE WHEN r1 < 0.60 THEN 0 WHEN r1 < 0.65 THEN r3 ELSE 1 + r3 * 40 END,
       'user' || (g % 5000) || '@example.com'
  FROM (SELECT g, timestamptz '2025-01-01 00:00+00' + random() * interval '365 days' AS st,
               random() AS r1, random() AS r2, random() AS r3
          FROM generate_series(1, $N) g) s;
VACUUM ANALYZE bench_sessions;
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site)
SELECT 'powerflex', 'bench', 'B' || row_number() OVER (), 'FINISHED', started_at, ended_at, kwh, user_ref, 'Downtown'
  FROM (SELECT * FROM bench_sessions LIMIT $NSTORE) b;
VACUUM ANALYZE sessions.store;
SQL

# Median of 5 runs of query $2 (ms) with max_parallel_workers_per_gather = $1.
median_ms() {
    local workers=$1 q=$2 i out times=()
    for i in 1 2 3 4 5 6; do
        out=$(PGOPTIONS="-c max_parallel_workers_per_gather=$workers -c jit=off" \
              psql -X -At -v ON_ERROR_STOP=1 -c '\timing on' -c "$q" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
        [ "$i" -gt 1 ] && times+=("$out")   # first run warms the cache
    done
    printf '%s\n' "${times[@]}" | sort -g | sed -n 3p
}

A="SELECT count(*) FROM bench_sessions"
B="SELECT (started_at AT TIME ZONE '$TZ_NAME')::date AS day,
       count(*) AS sessions,
       count(*) FILTER (WHERE ended_at IS NULL) AS active,
       count(*) FILTER (WHERE ended_at IS NOT NULL) AS completed,
       count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh = 0) AS empty,
       count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh > 0 AND kwh < 1.0) AS micro,
       count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh >= 1.0) AS normal,
       100.0 * count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh = 0) / nullif(count(*) FILTER (WHERE ended_at IS NOT NULL), 0) AS empty_pct,
       100.0 * count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh > 0 AND kwh < 1.0) / nullif(count(*) FILTER (WHERE ended_at IS NOT NULL), 0) AS micro_pct,
       sum(kwh) FILTER (WHERE ended_at IS NOT NULL) AS kwh,
       avg(ended_at - started_at) AS avg_duration
  FROM bench_sessions WHERE started_at IS NOT NULL GROUP BY 1 ORDER BY 1"
C="SELECT * FROM sessions.days((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, '$TZ_NAME') FROM bench_sessions))"
U="SELECT * FROM sessions.user_report(NULL, NULL, '$TZ_NAME')"
V="SELECT s.user_ref, count(*) OVER (PARTITION BY s.user_ref),
       row_number() OVER (PARTITION BY s.user_ref ORDER BY s.started_at DESC, s.session_key),
       s.session_key, s.namespace, s.external_id, s.site,
       s.started_at AT TIME ZONE '$TZ_NAME', s.ended_at AT TIME ZONE '$TZ_NAME',
       CASE WHEN extract(epoch FROM s.ended_at - s.started_at) < 60 THEN round(extract(epoch FROM s.ended_at - s.started_at), 1) || 's'
            WHEN extract(epoch FROM s.ended_at - s.started_at) < 3600 THEN round(extract(epoch FROM s.ended_at - s.started_at) / 60, 1) || 'm'
            ELSE round(extract(epoch FROM s.ended_at - s.started_at) / 3600, 1) || 'h' END,
       s.ended_at - s.started_at, s.kwh,
       s.kwh / nullif(extract(epoch FROM s.ended_at - s.started_at) / 3600, 0) * 1000,
       s.kwh / nullif(extract(epoch FROM s.ended_at - s.started_at) / 3600, 0) * 1000 / 208,
       CASE WHEN s.kwh / nullif(extract(epoch FROM s.ended_at - s.started_at) / 3600, 0) * 1000 / 208 >= 16 THEN 'green'
            WHEN s.kwh / nullif(extract(epoch FROM s.ended_at - s.started_at) / 3600, 0) * 1000 / 208 >= 8 THEN 'orange'
            WHEN s.ended_at > s.started_at THEN 'red' END
  FROM sessions.store s
 WHERE s.kind IN ('ocpi', 'powerflex') AND s.started_at IS NOT NULL
 ORDER BY s.user_ref NULLS FIRST, s.started_at DESC, s.session_key"

# The two daily breakdowns must agree before they are timed.
diff <(psql -X -At -c "SELECT day, sessions, active, completed, empty, micro, normal FROM ($B) b") \
     <(psql -X -At -c "SELECT day, sessions, active, completed, empty, micro, normal FROM ($C) c") >/dev/null ||
    { echo "daily breakdowns differ"; exit 1; }

a=$(median_ms 0 "$A"); b=$(median_ms 0 "$B"); c=$(median_ms 0 "$C"); c2=$(median_ms 2 "$C")
u=$(median_ms 0 "$U"); v=$(median_ms 0 "$V")
awk -v n="$N" -v a="$a" -v b="$b" -v c="$c" -v c2="$c2" -v u="$u" -v v="$v" -v ns="$NSTORE" 'BEGIN {
    printf "| query (median of 5) | ms | rows/s |\n|---|---:|---:|\n"
    printf "| (a) count(*), serial | %.1f | %.0f |\n", a, n / a * 1000
    printf "| (b) SQL daily breakdown, serial | %.1f | %.0f |\n", b, n / b * 1000
    printf "| (c) days(session_stats_agg), serial | %.1f | %.0f |\n", c, n / c * 1000
    printf "| (c) days(session_stats_agg), 2 workers | %.1f | %.0f |\n", c2, n / c2 * 1000
    printf "| user_report (%d sessions) | %.1f | %.0f |\n", ns, u, ns / u * 1000
    printf "| plain-SQL user report | %.1f | %.0f |\n", v, ns / v * 1000
    printf "\nc/a = %.2f (target <= 2)   b/c = %.2f (target >= 4)   parallel speed-up of c = %.2f (target >= 1.6)   SQL/user_report = %.2f\n",
           c / a, b / c, c / c2, v / u
}'
