#!/usr/bin/env bash
# The store's data survives pg_dump / pg_restore: the extension's tables are
# registered with pg_extension_config_dump, so their rows are dumped. The
# live summaries are not dumped: restoring the store's rows (COPY fires the
# store's summary triggers) and the summary settings (their trigger
# rebuilds) makes them again, equal to a scan (docs/summaries.md).
. "$(dirname "$0")/tap.sh"
plan 10

fresh_db dump_src
psql -X -q -d dump_src -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO sessions.store (kind, namespace, site, external_id, status, started_at, ended_at, kwh, doc)
SELECT 'powerflex', 'site-' || (g % 3), 'site-' || (g % 3), 'S' || g, 'FINISHED',
       '2025-09-01'::timestamptz + g * interval '1 hour',
       '2025-09-01'::timestamptz + g * interval '1 hour' + interval '30 min',
       g % 7, jsonb_build_object('n', g)
  FROM generate_series(1, 500) g;
INSERT INTO sessions.role_namespace VALUES ('session_analytics_reader', 'site-1');
SELECT sessions.set_site('site-1', 'America/Los_Angeles', 'Site One');
SELECT sessions.configure_summaries(micro_threshold => 2.0);
UPDATE sessions.store SET kwh = kwh + 0.5 WHERE external_id LIKE 'S1%';
DELETE FROM sessions.store WHERE external_id LIKE 'S2%';
SQL
before=$(psql -X -At -d dump_src -c "SELECT count(*), sum(kwh), md5(string_agg(doc::text || session_key::text, ',' ORDER BY external_id)) FROM sessions.store")

like "$before" "^389\|" "389 sessions stored before the dump"

dump=$SA_TEST_DIR/dump_src.dump
pg_dump -Fc -d dump_src -f "$dump"; ok $? "pg_dump -Fc"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS dump_dst WITH (FORCE)" -c "CREATE DATABASE dump_dst"
pg_restore -d dump_dst --exit-on-error "$dump"; ok $? "pg_restore into an empty database"

after=$(psql -X -At -d dump_dst -c "SELECT count(*), sum(kwh), md5(string_agg(doc::text || session_key::text, ',' ORDER BY external_id)) FROM sessions.store")
is "$after" "$before" "rows, kWh and documents equal after the round trip"
is "$(psql -X -At -d dump_dst -c "SELECT count(*) FROM sessions.role_namespace")" "1" "role map restored"
is "$(psql -X -At -d dump_dst -c "SELECT namespace || '|' || time_zone || '|' || display_name FROM sessions.site")" \
   "site-1|America/Los_Angeles|Site One" "sites restored with their zone and display name"
is "$(psql -X -At -d dump_dst -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" \
   "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SA_SRC/session_analytics.control")" "extension restored at its version"
is "$(psql -X -At -d dump_dst -c "SELECT (SELECT count(*) FROM sessions.summary_delta) > 0, (SELECT micro_threshold FROM sessions.summary_settings()),
                                     (SELECT count(*) FROM sessions.check_summaries())" | paste -sd'|')" "t|2|0" \
   "summaries rebuilt on restore with the restored settings, equal to a scan"
from_summaries=$(psql -X -At -d dump_dst -c "SELECT p.path, d.* FROM sessions.report_path('[2025-09-01 07:00+00, 2025-09-20 07:00+00)', NULL, 2.0, 'site-1') p,
                     sessions.daily_report('[2025-09-01 07:00+00, 2025-09-20 07:00+00)', NULL, 2.0, 'site-1') d" 2>&1)
from_scan=$(psql -X -q -At -d dump_dst -c "SET session_analytics.report_summaries = off" -c "SELECT 'scan', d.* FROM sessions.daily_report('[2025-09-01 07:00+00, 2025-09-20 07:00+00)', NULL, 2.0, 'site-1') d" 2>&1)
is "$(sed 's/^summaries|//' <<<"$from_summaries" | md5sum)" "$(sed 's/^scan|//' <<<"$from_scan" | md5sum)" \
   "daily_report after the restore: the summaries' answer is the scan's"
like "$from_summaries" "^summaries\|" "and it came from the summaries"
psql -X -q -d postgres -c "DROP DATABASE dump_src WITH (FORCE)" -c "DROP DATABASE dump_dst WITH (FORCE)"
