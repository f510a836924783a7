#!/usr/bin/env bash
# A table column of type sessions.session_stats survives pg_dump / pg_restore
# (its text form) and binary COPY (its send/recv form), and the restored
# summaries still roll up.
. "$(dirname "$0")/tap.sh"
export PGOPTIONS="-c client_min_messages=warning"
plan 6

fresh_db stats_src
psql -X -q -d stats_src -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.monthly (site text, month date, st sessions.session_stats);
INSERT INTO public.monthly
SELECT 'site-' || (g % 3), date_trunc('month', t)::date,
       sessions.session_stats_agg(t, CASE WHEN g % 17 = 0 THEN NULL ELSE t + (g % 300) * interval '1 min' END,
                                  (g % 9) * 0.4, 'Europe/Warsaw')
  FROM generate_series(1, 3000) g, LATERAL (SELECT timestamptz '2025-01-01' + g * interval '97 min') x(t)
 GROUP BY 1, 2;
SQL
q="SELECT md5(string_agg(site || month || st::text, ',' ORDER BY site, month)) FROM public.monthly"
r="SELECT sessions, empty, micro, normal, round(kwh::numeric, 6), avg_duration FROM sessions.totals((SELECT sessions.rollup(st) FROM public.monthly))"
before=$(psql -X -At -d stats_src -c "$q")
before_rollup=$(psql -X -At -d stats_src -c "$r")
like "$before_rollup" '^3000\|' "3000 sessions summarised before the dump"

dump=$SA_TEST_DIR/stats_src.dump
pg_dump -Fc -d stats_src -f "$dump"; ok $? "pg_dump -Fc with a session_stats column"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS stats_dst WITH (FORCE)" -c "CREATE DATABASE stats_dst"
pg_restore -d stats_dst --exit-on-error "$dump"; ok $? "pg_restore"
is "$(psql -X -At -d stats_dst -c "$q")" "$before" "summaries identical after the round trip"
is "$(psql -X -At -d stats_dst -c "$r")" "$before_rollup" "restored summaries roll up to the same totals"

# binary COPY between databases (the type's send/recv)
psql -X -q -d stats_src -c "COPY public.monthly TO STDOUT (FORMAT binary)" |
    psql -X -q -d stats_dst -c "TRUNCATE public.monthly" -c "COPY public.monthly FROM STDIN (FORMAT binary)"
is "$(psql -X -At -d stats_dst -c "$q")" "$before" "binary COPY keeps every summary"
psql -X -q -d postgres -c "DROP DATABASE stats_src WITH (FORCE)" -c "DROP DATABASE stats_dst WITH (FORCE)"
