-- Sites and their time zones (issue 12): the table, set_site, the OCPI
-- Location helper, the PowerFlex import's sites, one zone rule
-- (check_time_zone) and the reports' zone (report_time_zone): the tz
-- argument, then the session's TimeZone, then the sites' zone, then UTC.
-- Assumes a client that sets no TimeZone (pg_prove without PGTZ); the first
-- test says so when it does not hold.
BEGIN;
SET client_min_messages = warning;
SELECT plan(54);

SELECT ok((SELECT source NOT IN ('session', 'client', 'user', 'database', 'database user')
             FROM pg_settings WHERE name = 'TimeZone'),
          'precondition: this session''s TimeZone is the server default (run without PGTZ)');

SELECT has_table('sessions', 'site', 'sessions.site exists');
SELECT col_is_pk('sessions', 'site', 'namespace', 'one site per namespace');
SELECT is((SELECT relrowsecurity FROM pg_class WHERE oid = 'sessions.site'::regclass), true, 'sessions.site has row-level security');
SELECT ok((SELECT 'sessions.site'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'session_analytics'),
          'sessions.site is dumped (pg_extension_config_dump)');
SELECT ok(obj_description('sessions.site'::regclass, 'pg_class') IS NOT NULL, 'sessions.site has a comment');

-- check_time_zone: one rule for every zone (what AT TIME ZONE accepts) ------------------
SELECT is(sessions.check_time_zone('America/Los_Angeles'), 'America/Los_Angeles', 'a tz database name');
SELECT is(sessions.check_time_zone('PST'), 'PST', 'an abbreviation (the SQL functions always took them)');
SELECT is(sessions.check_time_zone('PST8PDT'), 'PST8PDT', 'a POSIX zone');
SELECT is(sessions.check_time_zone(NULL), NULL, 'NULL stays NULL');
SELECT throws_ok($$SELECT sessions.check_time_zone('Mars/Olympus', '--tz')$$, '22023',
                 '--tz "Mars/Olympus" is not a time zone PostgreSQL knows', 'unknown zone: 22023 naming the argument');
SELECT throws_ok($$SELECT sessions.check_time_zone('', 'time_zone')$$, '22023', NULL, 'empty zone refused');

-- set_site -----------------------------------------------------------------------------
SELECT is((SELECT (s).time_zone || ' / ' || (s).display_name
             FROM (SELECT sessions.set_site('Downtown Charging Hub', 'America/Los_Angeles', 'Downtown Charging Hub') s) x),
          'America/Los_Angeles / Downtown Charging Hub', 'set_site records zone and display name');
SELECT is((SELECT (sessions.set_site('Downtown Charging Hub', NULL, 'Downtown')).time_zone), 'America/Los_Angeles',
          'set_site: NULL keeps the stored zone');
SELECT is((SELECT display_name FROM sessions.site WHERE namespace = 'Downtown Charging Hub'), 'Downtown',
          'set_site: a new display name replaces the old');
SELECT is((SELECT (sessions.set_site('Downtown Charging Hub', '', NULL)).time_zone), NULL, 'set_site: '''' clears the zone');
SELECT is((SELECT (sessions.set_site('Downtown Charging Hub', 'America/Los_Angeles')).display_name), 'Downtown',
          'set_site: NULL keeps the display name');
SELECT throws_ok($$SELECT sessions.set_site('Downtown Charging Hub', 'Pacific/Atlantis')$$, '22023',
                 'set_site: time_zone "Pacific/Atlantis" is not a time zone PostgreSQL knows', 'set_site: unknown zone names the argument');
SELECT is((SELECT time_zone FROM sessions.site WHERE namespace = 'Downtown Charging Hub'), 'America/Los_Angeles',
          'a refused zone changes nothing');
SELECT throws_ok($$SELECT sessions.set_site(NULL, 'UTC')$$, '22023', 'set_site: namespace must not be empty', 'set_site: NULL namespace');
SELECT throws_ok($$SELECT sessions.set_site('  ', 'UTC')$$, '22023', 'set_site: namespace must not be empty', 'set_site: blank namespace');
SELECT throws_ok(format('SELECT sessions.set_site(%L)', repeat('x', 1001)), '22023', 'set_site: namespace is longer than 1000 bytes',
                 'set_site: namespace too long');
SELECT throws_ok($$INSERT INTO sessions.site (namespace, time_zone) VALUES ('direct', 'Mars/Olympus')$$, '22023',
                 'time_zone "Mars/Olympus" is not a time zone PostgreSQL knows', 'a plain INSERT is checked too (trigger)');

-- a writer mapped to one namespace
CREATE ROLE sites_writer IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sites_writer', 'Uptown');
SET LOCAL ROLE sites_writer;
SELECT is((SELECT (sessions.set_site('Uptown', 'America/Denver')).time_zone), 'America/Denver', 'a writer sets its own site');
SELECT throws_ok($$SELECT sessions.set_site('Downtown Charging Hub', 'UTC')$$, '42501',
                 'set_site: namespace "Downtown Charging Hub" is not mapped to role sites_writer', 'not another namespace''s site');
SELECT is((SELECT count(*) FROM sessions.site), 1::bigint, 'a writer sees only its own sites');
RESET ROLE;

-- ocpi_put_location: an OCPI Location's time_zone becomes its party's site's zone -------------
SELECT is((SELECT (s).namespace || ' ' || (s).time_zone || ' ' || (s).display_name
             FROM (SELECT sessions.ocpi_put_location('nl', 'tnm', '{"country_code": "NL", "party_id": "TNM", "id": "LOC1",
                     "time_zone": "Europe/Amsterdam", "operator": {"name": "The New Motion"}}') s) x),
          'NL-TNM Europe/Amsterdam The New Motion', 'ocpi_put_location: namespace CC-PID, zone, operator name');
SELECT is((SELECT (sessions.ocpi_put_location('NL', 'TNM', '{"id": "LOC2", "time_zone": "Europe/Brussels", "operator": {"name": "Other"}}')).display_name),
          'The New Motion', 'a later Location keeps the display name');
SELECT is((SELECT time_zone FROM sessions.site WHERE namespace = 'NL-TNM'), 'Europe/Brussels', 'the last Location sets the zone');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NL', 'TNM', '{"id": "LOC3"}')$$, '22023',
                 'ocpi_put_location: location.time_zone is required', 'time_zone is required');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NL', 'TNM', '{"id": "LOC3", "time_zone": "Europe/Atlantis"}')$$, '22023',
                 'ocpi_put_location: location.time_zone "Europe/Atlantis" is not a time zone PostgreSQL knows', 'unknown zone');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NLD', 'TNM', '{"time_zone": "UTC"}')$$, '22023', NULL, 'bad country_code');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NL', 'TN', '{"time_zone": "UTC"}')$$, '22023', NULL, 'bad party_id');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NL', 'TNM', '[]')$$, '22023',
                 'ocpi_put_location: location must be a JSON object (an OCPI Location)', 'not an object');
SELECT throws_ok($$SELECT sessions.ocpi_put_location('NL', 'TNM', '{"country_code": "DE", "time_zone": "UTC"}')$$, '22023',
                 'ocpi_put_location: location.country_code does not match the country_code argument', 'country_code mismatch');

-- The PowerFlex import records its sites (no zone: the export has none) ------------------
SELECT results_eq($$SELECT imported FROM sessions.import_powerflex('{"rows": [
      {"session_id": "a", "session_kwh": 0, "session_start_time": 1757206800000, "session_end_time": 1757207400000, "site": "Midtown"},
      {"session_id": "b", "session_kwh": 0, "session_start_time": 1757206800000, "site": "Downtown Charging Hub"}]}')$$,
                  $$VALUES (2)$$, 'import of two sites');
SELECT results_eq($$SELECT namespace, time_zone, display_name FROM sessions.site WHERE namespace IN ('Midtown', 'Downtown Charging Hub') ORDER BY 1$$,
                  $$VALUES ('Downtown Charging Hub'::text, 'America/Los_Angeles'::text, 'Downtown'::text), ('Midtown', NULL, 'Midtown')$$,
                  'a new site is recorded with its display name only; a known one keeps zone and name');

-- The reports' zone ------------------------------------------------------------------------
-- Sessions every 6 hours from 03:00 UTC on 2025-09-08 (20:00 on the 7th in California).
DELETE FROM sessions.store;
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site)
SELECT 'powerflex', 'Downtown Charging Hub', 'D' || g, 'FINISHED', t, t + interval '10 minutes', CASE WHEN g % 2 = 0 THEN 0 ELSE 5 END,
       'Downtown Charging Hub'
  FROM generate_series(1, 4) g, LATERAL (SELECT timestamptz '2025-09-08 03:00+00' + (g - 1) * interval '6 hours' AS t) x;
SELECT results_eq($$SELECT time_zone, source FROM sessions.report_time_zone()$$,
                  $$VALUES ('America/Los_Angeles'::text, 'site'::text)$$, 'report_time_zone: the zone of the report''s one site');
SELECT results_eq($$SELECT day, sessions FROM sessions.daily_report(NULL)$$,
                  $$VALUES ('2025-09-07'::date, 1::bigint), ('2025-09-08', 3)$$, 'daily_report: the site''s local days by default');
SELECT results_eq($$SELECT day, sessions FROM sessions.daily_report(NULL, 'UTC')$$,
                  $$VALUES ('2025-09-08'::date, 4::bigint)$$, 'daily_report: the tz argument overrides the site');
SELECT results_eq($$SELECT started_local FROM sessions.user_report() WHERE session_no = 4$$,
                  $$VALUES ('2025-09-07 20:00:00'::timestamp)$$, 'user_report: local times in the site''s zone');
SELECT results_eq($$SELECT day, sessions FROM sessions.daily_report(NULL, site => 'Downtown Charging Hub')$$,
                  $$VALUES ('2025-09-07'::date, 1::bigint), ('2025-09-08', 3)$$, 'daily_report at the site: its zone');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT results_eq($$SELECT time_zone, source FROM sessions.report_time_zone()$$,
                  $$VALUES ('Asia/Tokyo'::text, 'TimeZone'::text)$$, 'a TimeZone set in the session overrides the site');
SELECT results_eq($$SELECT day, sessions FROM sessions.daily_report(NULL)$$,
                  $$VALUES ('2025-09-08'::date, 2::bigint), ('2025-09-09', 2)$$, 'daily_report: the session''s TimeZone');
SELECT results_eq($$SELECT time_zone, source FROM sessions.report_time_zone(tz => 'PST')$$,
                  $$VALUES ('PST'::text, 'argument'::text)$$, 'the argument overrides the session''s TimeZone');
RESET TimeZone;
-- Two sites of different zones: UTC, said by source, site_zones and a NOTICE.
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site)
VALUES ('ocpi', 'NL-TNM', 'OCPI1', 'COMPLETED', '2025-09-08 03:00+00', '2025-09-08 04:00+00', 3, 'LOC1');
SELECT results_eq($$SELECT time_zone, source, site_zones FROM sessions.report_time_zone()$$,
                  $$VALUES ('UTC'::text, 'mixed'::text, 'Downtown Charging Hub (America/Los_Angeles), NL-TNM (Europe/Brussels)'::text)$$,
                  'sites of different zones: UTC, and which sites have which zone');
SELECT results_eq($$SELECT sessions FROM sessions.summary_report(NULL, sites => ARRAY['LOC1'])$$,
                  $$VALUES (1::bigint)$$, 'summary_report: sites narrows to several sites');
SELECT results_eq($$SELECT time_zone, source FROM sessions.report_time_zone(sites => ARRAY['LOC1'])$$,
                  $$VALUES ('Europe/Brussels'::text, 'site'::text)$$, 'an OCPI location''s sessions take their party''s zone');
SELECT results_eq($$SELECT day FROM sessions.daily_report(NULL, sites => ARRAY['LOC1', 'Downtown Charging Hub'])$$,
                  $$VALUES ('2025-09-08'::date)$$, 'daily_report over both: UTC days');
SELECT results_eq($$SELECT time_zone, source FROM sessions.report_time_zone(sites => ARRAY['nowhere'])$$,
                  $$VALUES ('UTC'::text, 'default'::text)$$, 'no session, no site: UTC');
SELECT throws_ok($$SELECT * FROM sessions.daily_report(NULL, 'Mars/Olympus')$$, '22023',
                 'time zone "Mars/Olympus" not recognized', 'daily_report: an unknown zone, as before');
-- The zone's resolution keeps the reports parallel safe (no subtransaction in it).
SET LOCAL force_parallel_mode = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT results_eq($$SELECT day, sessions FROM sessions.daily_report(NULL, site => 'Downtown Charging Hub')$$,
                  $$VALUES ('2025-09-07'::date, 1::bigint), ('2025-09-08', 3)$$, 'daily_report in parallel mode, zone from the site');
SELECT results_eq($$SELECT sessions FROM sessions.summary_report(NULL, 'America/Los_Angeles')$$,
                  $$VALUES (5::bigint)$$, 'summary_report in parallel mode, zone given');
SELECT results_eq($$SELECT count(*) FROM sessions.user_report(NULL, NULL, 'PST')$$,
                  $$VALUES (5::bigint)$$, 'user_report in parallel mode');
RESET force_parallel_mode;

SELECT * FROM finish();
ROLLBACK;
