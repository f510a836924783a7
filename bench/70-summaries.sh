#!/usr/bin/env bash
# Live summaries (docs/summaries.md), in one run:
#   reads   daily_report for 30 days and for a year, summary_report for a
#           month, over all sites of a store of N sessions (3 sites sharing
#           one zone, 2 years): the summary path against the scan path
#           (session_analytics.report_summaries = off), median of 3;
#   writes  ocpi_put one session per statement, ocpi_patch, the PowerFlex
#           import (new rows and a re-run), and 8 concurrent ocpi_put
#           writers into one site and day (pgbench -c 8): summaries on
#           against off (configure_summaries(false)), alternated, median of 3;
#   storage summary rows after the writes and after compact_summaries().
# N = 2,000,000 * BENCH_SCALE (the issue's 10M is BENCH_SCALE=5);
# BENCH_SUMMARY_WRITES=0 skips the write part (reads at a larger N).
set -euo pipefail
N=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { n = int(2000000 * s); print (n < 20000 ? 20000 : n) }')
T=${BENCH_SECONDS:-8}
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
DIR=${SA_BENCH_DIR:-/tmp}/summaries
mkdir -p "$DIR"

echo "## live summaries: $N sessions, 3 sites, 2 years"
t0=$(date +%s.%N)
"${PSQL[@]}" -v n="$N" <<'SQL'
SET client_min_messages = warning;
SELECT sessions.configure_summaries(false) \g /dev/null
TRUNCATE sessions.store CASCADE;
INSERT INTO sessions.site (namespace, time_zone) VALUES ('Depot', 'America/Los_Angeles'), ('Plaza', 'America/Los_Angeles'),
    ('Mall', 'America/Los_Angeles') ON CONFLICT (namespace) DO UPDATE SET time_zone = EXCLUDED.time_zone;
INSERT INTO sessions.store (kind, namespace, site, external_id, status, started_at, ended_at, kwh)
SELECT 'powerflex', ns, ns, 'B' || g, 'FINISHED', t, CASE WHEN g % 50 <> 0 THEN t + (g % 600) * interval '1 min' END,
       CASE WHEN g % 9 = 0 THEN 0 ELSE (g % 4000) / 97.0 END
  FROM generate_series(1, :n) g,
       LATERAL (SELECT (ARRAY['Depot', 'Plaza', 'Mall'])[1 + g % 3] AS ns,
                       timestamptz '2024-11-01 08:00+00' + (g::float8 / :n) * interval '730 days' AS t) x;
ANALYZE sessions.store;
SQL
t1=$(date +%s.%N)
"${PSQL[@]}" -c "SELECT sessions.configure_summaries()" >/dev/null
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "load %.1f s (summaries off), build of the summaries (configure_summaries(): rebuild from the store) %.1f s\n", b - a, c - b }'

"${PSQL[@]}" -At <<'SQL'
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION pg_temp.ms(q text, summaries boolean) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    t float8[] := '{}';
BEGIN
    PERFORM set_config('session_analytics.report_summaries', CASE WHEN summaries THEN 'on' ELSE 'off' END, true);
    EXECUTE q;  -- warm-up
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        EXECUTE q;
        t := t || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(t) x);
END
$$;
CREATE TEMP TABLE q (what text, sql text, rng tstzrange);
INSERT INTO q VALUES
  ('daily_report, 30 days', 'SELECT count(*) FROM sessions.daily_report(%L)',
   tstzrange(timezone('America/Los_Angeles', '2026-09-15'::timestamp), timezone('America/Los_Angeles', '2026-10-15'::timestamp))),
  ('daily_report, a year', 'SELECT count(*) FROM sessions.daily_report(%L)',
   tstzrange(timezone('America/Los_Angeles', '2025-10-01'::timestamp), timezone('America/Los_Angeles', '2026-10-01'::timestamp))),
  ('summary_report, a month', 'SELECT count(*) FROM sessions.summary_report(%L)',
   tstzrange(timezone('America/Los_Angeles', '2026-09-01'::timestamp), timezone('America/Los_Angeles', '2026-10-01'::timestamp)));
SELECT format('%s path: %s', rpad(what, 26), (SELECT path || ' (' || reason || ')' FROM sessions.report_path(rng))) FROM q;
SELECT format('%s summaries %s ms   scan %s ms   scan / summaries %sx',
              rpad(what, 26), lpad(round(s::numeric, 2)::text, 8), lpad(round(f::numeric, 1)::text, 9),
              lpad(round((f / s)::numeric)::text, 6))
  FROM (SELECT what, rng, pg_temp.ms(format(sql, rng), true) AS s, pg_temp.ms(format(sql, rng), false) AS f FROM q) x;
-- The two paths agree (counts exactly, kWh to summation-order noise).
CREATE TEMP TABLE y AS SELECT tstzrange(timezone('America/Los_Angeles', '2025-10-01'::timestamp),
                                        timezone('America/Los_Angeles', '2026-10-01'::timestamp)) AS r;
CREATE TEMP TABLE a AS SELECT d.* FROM y, sessions.daily_report(y.r) d;
SELECT set_config('session_analytics.report_summaries', 'off', false) \g /dev/null
CREATE TEMP TABLE b AS SELECT d.* FROM y, sessions.daily_report(y.r) d;
SELECT format('the paths agree over %s days: %s', count(*),
              bool_and(a.sessions = b.sessions AND a.completed = b.completed AND a.micro = b.micro AND a.red = b.red
                       AND a.avg_duration = b.avg_duration AND abs(a.kwh - b.kwh) <= (b.completed + 1) * 2.0e0 ^ -52 * b.kwh))
  FROM a FULL JOIN b USING (day);
SQL

[ "${BENCH_SUMMARY_WRITES:-1}" = 0 ] && exit 0

# ---- writes: summaries on against off, in a database of its own (switching
# rebuilds the summaries of the whole store) ----------------------------------
W=${PGDATABASE:-bench}_summaries_w
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $W" -c "CREATE DATABASE $W"
"${PSQL[@]}" -d "$W" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION session_analytics;
INSERT INTO sessions.site (namespace, time_zone) VALUES ('NL-TNM', 'Europe/Amsterdam');
-- Sessions to patch.
SELECT count(sessions.ocpi_put('NL', 'TNM', 'P' || g, jsonb_build_object('country_code', 'NL', 'party_id', 'TNM', 'id', 'P' || g,
         'start_date_time', '2026-11-15T10:00:00Z', 'kwh', 1.5, 'cdr_token', jsonb_build_object('country_code', 'NL', 'party_id', 'TST',
         'uid', 'U1', 'type', 'RFID', 'contract_id', 'C1'), 'auth_method', 'WHITELIST', 'location_id', 'LOC1', 'evse_uid', 'E1',
         'connector_id', '1', 'currency', 'EUR', 'status', 'ACTIVE', 'last_updated', '2026-11-15T10:05:00Z')))
  FROM generate_series(1, 10000) g;
SQL
cat >"$DIR/put.sql" <<'EOF'
\set id random(1, 2000000000)
SELECT sessions.ocpi_put('NL', 'TNM', 'N:id', '{"country_code": "NL", "party_id": "TNM", "id": "N:id", "start_date_time": "2026-11-15T10:00:00Z", "kwh": 7.25, "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID", "contract_id": "C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2026-11-15T10:05:00Z"}');
EOF
cat >"$DIR/patch.sql" <<'EOF'
\set id random(1, 10000)
SELECT sessions.ocpi_patch('NL', 'TNM', 'P:id', jsonb_build_object('kwh', round((random() * 50)::numeric, 3), 'last_updated', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
EOF
# tps(clients, script): transactions per second of one pgbench run.
tps() {
    pgbench -n -d "$W" -c "$1" -j "$(( $1 < 2 ? 1 : 2 ))" -T "$T" -f "$2" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
switch() { "${PSQL[@]}" -d "$W" -c "SELECT sessions.configure_summaries($1)" >/dev/null; }
# import(rep): seconds of a 10,000-row PowerFlex import of new rows, then of its re-run.
import() {
    "${PSQL[@]}" -d "$W" -At -v rep="$1" <<'SQL'
CREATE TEMP TABLE doc AS
SELECT jsonb_agg(jsonb_build_object('session_id', 'I' || :'rep' || '-' || g, 'session_kwh', (g % 500) / 13.0,
         'session_start_time', 1794729600000 + g * 1000, 'session_end_time', 1794729600000 + g * 1000 + 3600000,
         'status', 'FINISHED', 'site', 'Depot')) AS d FROM generate_series(1, 10000) g;
SELECT d FROM doc \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM sessions.import_powerflex(:'d') \g /dev/null
SELECT clock_timestamp() AS t1 \gset
SELECT count(*) FROM sessions.import_powerflex(:'d') \g /dev/null
SELECT round(extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz)::numeric, 3) || ' ' ||
       round(extract(epoch FROM clock_timestamp() - :'t1'::timestamptz)::numeric, 3);
SQL
}
median() { sort -g | sed -n 2p; }
# The machine is shared: besides pgbench's wall-clock tps, the backend's own
# CPU time (/proc/PID/stat, which waiting for a core does not count) per
# call of a procedure's loop of one-row statements each committed (a
# transaction per call, as a client's), summaries on against off.
cpu_per_call() {  # cpu_per_call MODE-LIST... : prints "mode put_us patch_us" lines
    coproc P { psql -X -q -At -d "$W"; }
    local pid line a b
    q() { echo "$1" >&"${P[1]}"; read -r line <&"${P[0]}"; echo "$line"; }
    pid=$(q "SELECT pg_backend_pid();")
    q "CREATE PROCEDURE pg_temp.put(n int, tag text) LANGUAGE plpgsql AS \$\$
       DECLARE d jsonb := '{\"country_code\": \"NL\", \"party_id\": \"TNM\", \"id\": \"x\", \"start_date_time\": \"2026-11-15T10:00:00Z\", \"kwh\": 7.25, \"cdr_token\": {\"country_code\": \"NL\", \"party_id\": \"TST\", \"uid\": \"U1\", \"type\": \"RFID\", \"contract_id\": \"C1\"}, \"auth_method\": \"WHITELIST\", \"location_id\": \"LOC1\", \"evse_uid\": \"E1\", \"connector_id\": \"1\", \"currency\": \"EUR\", \"status\": \"ACTIVE\", \"last_updated\": \"2026-11-15T10:05:00Z\"}';
       BEGIN FOR i IN 1..n LOOP PERFORM sessions.ocpi_put('NL', 'TNM', tag || i, jsonb_set(d, '{id}', to_jsonb(tag || i))); COMMIT; END LOOP; END \$\$;
       CREATE PROCEDURE pg_temp.patch(n int) LANGUAGE plpgsql AS \$\$
       BEGIN FOR i IN 1..n LOOP PERFORM sessions.ocpi_patch('NL', 'TNM', 'P' || (1 + i % 10000), jsonb_build_object('kwh', i % 50,
           'last_updated', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))); COMMIT; END LOOP; END \$\$;
       SELECT 1;" >/dev/null
    for m in "$@"; do
        q "SELECT sessions.configure_summaries($m) IS NOT NULL;" >/dev/null
        a=$(awk '{print $14 + $15}' /proc/$pid/stat); q "CALL pg_temp.put(3000, 'Q$RANDOM-'); SELECT 1;" >/dev/null
        b=$(awk '{print $14 + $15}' /proc/$pid/stat); q "CALL pg_temp.patch(3000); SELECT 1;" >/dev/null
        c=$(awk '{print $14 + $15}' /proc/$pid/stat)
        echo "$m $(( (b - a) * 10000 / 3000 )) $(( (c - b) * 10000 / 3000 ))"
    done
    echo '\q' >&"${P[1]}"
}

declare -A R
for rep in 1 2 3; do
    for mode in true false; do
        switch "$mode"
        R[put1_$mode]+="$(tps 1 "$DIR/put.sql")"$'\n'
        R[patch_$mode]+="$(tps 1 "$DIR/patch.sql")"$'\n'
        R[put8_$mode]+="$(tps 8 "$DIR/put.sql")"$'\n'
        read -r ins upd <<<"$(import "$rep$mode")"
        R[imp_$mode]+="$ins"$'\n'
        R[reimp_$mode]+="$upd"$'\n'
    done
done
cpu=$(cpu_per_call true false true false true false)
for k in 2 3; do
    on=$(awk -v k=$k '$1 == "true" {print $k}' <<<"$cpu" | median) off=$(awk -v k=$k '$1 == "false" {print $k}' <<<"$cpu" | median)
    awk -v k="$k" -v a="$on" -v b="$off" 'BEGIN {
        printf "%-36s on %5d us   off %5d us   backend CPU per call, throughput on / off %.2f\n",
               (k == 2) ? "ocpi_put, CPU per call" : "ocpi_patch, CPU per call", a, b, b / a }'
done
for k in put1 patch put8; do
    on=$(median <<<"${R[${k}_true]}") off=$(median <<<"${R[${k}_false]}")
    awk -v k="$k" -v a="$on" -v b="$off" 'BEGIN {
        name = (k == "put1") ? "ocpi_put, 1 session per statement" : (k == "patch") ? "ocpi_patch" : "ocpi_put, 8 writers, one site-day"
        printf "%-36s on %8.0f tps   off %8.0f tps   on / off %.2f\n", name, a, b, a / b }'
done
for k in imp reimp; do
    on=$(median <<<"${R[${k}_true]}") off=$(median <<<"${R[${k}_false]}")
    awk -v k="$k" -v a="$on" -v b="$off" 'BEGIN {
        name = (k == "imp") ? "import_powerflex, 10,000 new rows" : "import_powerflex, its re-run (updates)"
        printf "%-36s on %8.3f s     off %8.3f s     throughput on / off %.2f\n", name, a, b, b / a }'
done

switch true
"${PSQL[@]}" -d "$W" -At <<'SQL'
-- Storage: the writes above as deltas, then compacted (O(sites x days)).
SELECT count(sessions.ocpi_patch('NL', 'TNM', 'P' || g, jsonb_build_object('kwh', g % 40, 'last_updated', '2026-11-16T00:00:00Z')))
  FROM generate_series(1, 10000) g \g /dev/null
SELECT count(*) AS before FROM sessions.summary_delta \gset
SELECT sessions.compact_summaries() \g /dev/null
SELECT format('storage: %s sessions; %s summary rows before compaction, %s after (%s keys); check_summaries(): %s differences',
              (SELECT count(*) FROM sessions.store), :before, count(*),
              (SELECT count(*) FROM sessions.summary_scan()), (SELECT count(*) FROM sessions.check_summaries()))
  FROM sessions.summary_delta;
SQL
"${PSQL[@]}" -d postgres -c "DROP DATABASE $W"
