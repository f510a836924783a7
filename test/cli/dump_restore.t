#!/usr/bin/env bash
# The store's data survives pg_dump / pg_restore: the extension's tables are
# registered with pg_extension_config_dump, so their rows are dumped.
. "$(dirname "$0")/tap.sh"
plan 7

fresh_db dump_src
psql -X -q -d dump_src -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, doc)
SELECT 'powerflex', 'site-' || (g % 3), 'S' || g, 'FINISHED',
       '2025-09-01'::timestamptz + g * interval '1 hour',
       '2025-09-01'::timestamptz + g * interval '1 hour' + interval '30 min',
       g % 7, jsonb_build_object('n', g)
  FROM generate_series(1, 500) g;
INSERT INTO sessions.role_namespace VALUES ('session_analytics_reader', 'site-1');
SELECT sessions.set_site('site-1', 'America/Los_Angeles', 'Site One');
SQL
before=$(psql -X -At -d dump_src -c "SELECT count(*), sum(kwh), md5(string_agg(doc::text || session_key::text, ',' ORDER BY external_id)) FROM sessions.store")

like "$before" "^500\|" "500 sessions stored before the dump"

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
psql -X -q -d postgres -c "DROP DATABASE dump_src WITH (FORCE)" -c "DROP DATABASE dump_dst WITH (FORCE)"
