-- Analytics: every error path with its SQLSTATE, hostile session_stats
-- values (text and binary), rollup rules, a forced parallel plan, and 100k
-- randomized rows against a straightforward SQL formulation.
BEGIN;
SELECT plan(177);

-- ---- scalar functions: error paths ------------------------------------------
SELECT throws_ok($$SELECT sessions.classify(-1)$$, '22023', NULL, 'classify: negative kWh');
SELECT throws_ok($$SELECT sessions.classify('NaN')$$, '22023', NULL, 'classify: NaN kWh');
SELECT throws_ok($$SELECT sessions.classify(1, 0)$$, '22023', NULL, 'classify: threshold 0');
SELECT throws_ok($$SELECT sessions.classify(1, -2)$$, '22023', NULL, 'classify: negative threshold');
SELECT is(sessions.classify(NULL), NULL, 'classify is strict');
SELECT throws_ok($$SELECT sessions.average_power_w(-1, now(), now() + interval '1h')$$, '22023', NULL, 'average_power_w: negative kWh');
SELECT throws_ok($$SELECT sessions.average_current_a(1, now(), now() + interval '1h', 0)$$, '22023', NULL, 'average_current_a: volts 0');
SELECT throws_ok($$SELECT sessions.average_current_a(-1, now(), now() + interval '1h')$$, '22023', NULL, 'average_current_a: negative kWh');
SELECT throws_ok($$SELECT sessions.charge_rating(-1)$$, '22023', NULL, 'charge_rating: negative amps');
SELECT throws_ok($$SELECT sessions.charge_rating('NaN')$$, '22023', NULL, 'charge_rating: NaN amps');
SELECT throws_ok($$SELECT sessions.charge_rating(10, 8, 16)$$, '22023', NULL, 'charge_rating: fair above good');
SELECT throws_ok($$SELECT sessions.charge_rating(10, 0, 0)$$, '22023', NULL, 'charge_rating: limits must be positive');
SELECT throws_ok($$SELECT sessions.date_range('fortnight')$$, '22023', NULL, 'date_range: unknown name');
SELECT throws_ok($$SELECT sessions.date_range('today', 'Mars/Olympus')$$, '22023', NULL, 'date_range: unknown zone');
SELECT throws_ok($$SELECT sessions.date_range('today', 'UTC', 'infinity')$$, '22008', NULL, 'date_range: infinite at');

-- ---- the aggregate: error paths ----------------------------------------------
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, NULL)$$, '22004', NULL, 'agg: NULL tz');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC', NULL)$$, '22004', NULL, 'agg: NULL threshold');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC', 1, NULL)$$, '22004', NULL, 'agg: NULL volts');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'Mars/Olympus')$$, '22023', NULL, 'agg: unknown zone');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'America/New York')$$, '22023', NULL, 'agg: zone with a blank');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC', 0)$$, '22023', NULL, 'agg: threshold 0');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC', 1, -208)$$, '22023', NULL, 'agg: negative volts');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), -1)$$, '22023', NULL, 'agg: negative kWh');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 'Infinity')$$, '22023', NULL, 'agg: infinite kWh');
SELECT throws_ok($$SELECT sessions.session_stats_agg('infinity', NULL, 1)$$, '22008', NULL, 'agg: infinite started_at');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), 'infinity', 1)$$, '22008', NULL, 'agg: infinite ended_at');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, tz)
                     FROM (VALUES ('UTC'), ('Europe/Warsaw')) v(tz)$$, '22023', NULL, 'agg: zone changes between rows');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC', thr)
                     FROM (VALUES (1.0), (2.0)) v(thr)$$, '22023', NULL, 'agg: threshold changes between rows');
SELECT throws_ok($$SELECT sessions.session_stats_trans(NULL, now(), now(), 1)$$, '0A000', NULL, 'transition outside an aggregate');
SELECT throws_ok($$SELECT sessions.session_stats_combine(NULL, NULL)$$, '0A000', NULL, 'combine outside an aggregate');
SELECT is((SELECT sessions.session_stats_agg(s, e, k) FROM (VALUES (NULL::timestamptz, NULL::timestamptz, NULL::float8)) v(s, e, k))::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8', 'rows without started_at are ignored (empty summary)');
SELECT is((SELECT sessions.session_stats_agg(now(), now(), 1) WHERE false)::text, NULL, 'no rows: NULL');

-- ---- reports: parameter errors surface once there is data --------------------
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site)
VALUES ('powerflex', 'tap', 'R1', 'FINISHED', '2025-09-01 10:00+00', '2025-09-01 11:00+00', 2, 'u@example.com', 'S');
SELECT throws_ok($$SELECT * FROM sessions.daily_report(NULL, 'Mars/Olympus')$$, '22023', NULL, 'daily_report: unknown zone');
SELECT throws_ok($$SELECT * FROM sessions.summary_report(NULL, 'UTC', 0)$$, '22023', NULL, 'summary_report: threshold 0');
SELECT throws_ok($$SELECT * FROM sessions.user_report(NULL, NULL, 'UTC', 0)$$, '22023', NULL, 'user_report: volts 0');
SELECT is((SELECT rating FROM sessions.user_report('u@example.com')), 'orange', 'user_report: 2 kWh in 1 h at 208 V (9.6 A) is orange');

-- ---- one source for the defaults: sessions.analytics_setting ---------------------
SELECT is(ARRAY[sessions.analytics_setting('micro_threshold'), sessions.analytics_setting('volts'),
                sessions.analytics_setting('good_amps'), sessions.analytics_setting('fair_amps')],
          ARRAY[1.0, 208, 16, 8]::float8[], 'analytics_setting: the defaults of the GUC definitions');
SET LOCAL session_analytics.micro_threshold = 2;
SET LOCAL session_analytics.volts = 230;
SET LOCAL session_analytics.good_amps = 20;
SET LOCAL session_analytics.fair_amps = 10;
SELECT is(ARRAY[sessions.analytics_setting('micro_threshold'), sessions.analytics_setting('volts'),
                sessions.analytics_setting('good_amps'), sessions.analytics_setting('fair_amps')],
          ARRAY[2, 230, 20, 10]::float8[], 'analytics_setting: the values SET');
SELECT is(ARRAY[sessions.analytics_setting_default('micro_threshold'), sessions.analytics_setting_default('volts'),
                sessions.analytics_setting_default('good_amps'), sessions.analytics_setting_default('fair_amps')],
          ARRAY[1.0, 208, 16, 8]::float8[], 'analytics_setting_default: the built-in defaults, whatever is SET');
SELECT is((SELECT ARRAY[g.micro_threshold, g.volts, g.good_a, g.fair_a] FROM sessions.summary_settings() g),
          ARRAY[1.0, 208, 16, 8]::float8[], 'unconfigured live summaries use the built-in defaults, not a session''s setting');
SELECT throws_ok($$SELECT sessions.analytics_setting_default('bogus')$$, '22023',
                 'name must name an analytics setting, got "bogus"', 'analytics_setting_default: unknown name');
SELECT is(sessions.classify(1.5) || ' ' || sessions.charge_rating(15) || ' '
          || round(sessions.average_current_a(2.3, '2025-01-01 00:00+00', '2025-01-01 01:00+00')::numeric, 1),
          'micro orange 10.0', 'the scalar defaults follow the settings');
RESET session_analytics.micro_threshold;
RESET session_analytics.volts;
RESET session_analytics.good_amps;
RESET session_analytics.fair_amps;
SELECT throws_ok($$SELECT sessions.analytics_setting('bogus')$$, '22023',
                 'name must name an analytics setting, got "bogus"', 'analytics_setting: unknown name');
SELECT throws_ok($$SELECT sessions.analytics_setting('session_analytics.volts')$$, '22023',
                 'name must name an analytics setting, got "session_analytics.volts"', 'analytics_setting: the name after the prefix only');
SELECT is(sessions.analytics_setting(NULL), NULL, 'analytics_setting is strict');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'sessions'::regnamespace AND p.proargdefaults IS NOT NULL
                   AND pg_get_expr(p.proargdefaults, 0) ~ 'current_setting|session_analytics\.'
                 ORDER BY 1),
          '{}'::text[], 'no default reads a setting by current_setting (nor writes a fallback value)');
SELECT is(ARRAY(SELECT p.proname || ': ' || pg_get_expr(p.proargdefaults, 0) FROM pg_proc p
                 WHERE p.pronamespace = 'sessions'::regnamespace
                   AND pg_get_expr(p.proargdefaults, 0) ~ 'analytics_setting\('
                 ORDER BY 1),
          ARRAY['average_current_a: sessions.analytics_setting(''volts''::text)',
                'charge_rating: sessions.analytics_setting(''good_amps''::text), sessions.analytics_setting(''fair_amps''::text)',
                'classify: sessions.analytics_setting(''micro_threshold''::text)',
                'daily_report: NULL::text, sessions.analytics_setting(''micro_threshold''::text), NULL::text, false, NULL::text[]',
                'report_path: NULL::tstzrange, NULL::text, sessions.analytics_setting(''micro_threshold''::text), NULL::text, false, NULL::text[]',
                'report_sites: NULL::text, sessions.analytics_setting(''micro_threshold''::text), NULL::text, false, NULL::text[]',
                'report_stats: NULL::text, sessions.analytics_setting(''micro_threshold''::text), NULL::text, false, NULL::text[]',
                'summary_report: NULL::text, sessions.analytics_setting(''micro_threshold''::text), NULL::text, false, NULL::text[]',
                'user_report: NULL::text, NULL::tstzrange, NULL::text, sessions.analytics_setting(''volts''::text)'],
          'the defaults of the analytics functions call analytics_setting');

-- A backend that has not loaded the library: current_setting does not know
-- the settings yet; analytics_setting loads it and answers.
CREATE FUNCTION pg_temp.fresh(name text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s host=%s port=%s user=%s', current_database(),
                          current_setting('unix_socket_directories'), current_setting('port'), current_user)) $$;
SELECT pg_temp.fresh('sa_f1');
SELECT is((SELECT v FROM dblink('sa_f1', $$SELECT current_setting('session_analytics.volts', true)$$) t(v text)),
          NULL, 'a fresh backend has not loaded the library (no setting known)');
SELECT is((SELECT v FROM dblink('sa_f1', $$SELECT sessions.analytics_setting('volts')$$) t(v float8)),
          208::float8, 'in it, analytics_setting loads the library and reads the default');
SELECT dblink_disconnect('sa_f1');
-- ALTER DATABASE SET, then a new backend: the report default follows. And a
-- value SET before the library is loaded that the GUC then refuses (beyond
-- its maximum): the report's default is the value in force, 1.0, the one the
-- aggregate and classify use (current_setting used to pass 1e12 on).
SELECT pg_temp.fresh('sa_su');
SELECT dblink_exec('sa_su', $$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh)
                              VALUES ('powerflex', 'tap_fresh', 'F1', 'FINISHED', '2025-07-01 10:00+00', '2025-07-01 11:00+00', 1.5)$$);
SELECT pg_temp.fresh('sa_f2');
SELECT dblink_exec('sa_f2', 'SET session_analytics.micro_threshold = 1e12');
SELECT is((SELECT v FROM dblink('sa_f2', $$SELECT micro || ' ' || normal FROM sessions.summary_report(tstzrange('2025-07-01', '2025-07-02'))$$) t(v text))
          || ' ' || (SELECT v FROM dblink('sa_f2', $$SELECT sessions.classify(1.5)$$) t(v text)),
          '0 1 normal', 'a setting refused at load: the report''s default is the value in force, as classify''s');
SELECT dblink_disconnect('sa_f2');
SELECT dblink_exec('sa_su', format('ALTER DATABASE %I SET session_analytics.micro_threshold = 2.5', current_database()));
SELECT pg_temp.fresh('sa_f3');
SELECT is((SELECT m FROM dblink('sa_f3', $$SELECT micro FROM sessions.summary_report(tstzrange('2025-07-01', '2025-07-02'))$$) t(m bigint)),
          1::bigint, 'ALTER DATABASE SET micro_threshold = 2.5: a new backend''s summary_report counts 1.5 kWh as micro');
SELECT is((SELECT m FROM dblink('sa_f3', $$SELECT micro FROM sessions.summary_report(tstzrange('2025-07-01', '2025-07-02'), 'UTC', 1.0)$$) t(m bigint)),
          0::bigint, 'the same report with threshold 1.0 passed: not micro');
SELECT dblink_disconnect('sa_f3');
SELECT dblink_exec('sa_su', format('ALTER DATABASE %I RESET session_analytics.micro_threshold', current_database()));
SELECT dblink_exec('sa_su', $$DELETE FROM sessions.store WHERE namespace = 'tap_fresh'$$);
SELECT dblink_disconnect('sa_su');

-- ---- one source for the report selection: sessions.report_sessions --------------
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site) VALUES
    ('powerflex', 'tap_sel', 'A1', 'FINISHED', '2025-08-02 10:00+00', '2025-08-02 11:00+00', 0, 'S'),
    ('ocpi', 'tap_sel', 'A2', 'COMPLETED', '2025-08-03 10:00+00', '2025-08-03 11:00+00', 1.5, 'T'),
    ('powerflex', 'tap_sel', 'A3', 'ACTIVE', '2025-08-04 10:00+00', NULL, 3, 'S'),
    ('telemetry', 'tap_sel', 'A4', 'FINISHED', '2025-08-05 10:00+00', '2025-08-05 11:00+00', 3, 'S'),
    ('powerflex', 'tap_sel', 'A5', 'FINISHED', '2025-10-01 10:00+00', '2025-10-01 11:00+00', 3, 'S'),
    ('powerflex', 'tap_sel', 'A6', 'PENDING', NULL, NULL, NULL, 'S');
CREATE FUNCTION pg_temp.sel(r tstzrange, site text, active boolean) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(s.external_id, ' ' ORDER BY s.external_id), '')
      FROM sessions.report_sessions(r, site, active) s WHERE s.namespace = 'tap_sel' $$;
SELECT is((SELECT COALESCE(string_agg(s.external_id, ' ' ORDER BY s.external_id), '')
             FROM sessions.report_sessions(NULL) s WHERE s.namespace = 'tap_sel'),
          'A1 A2 A5', 'report_sessions: all time, charging kinds, completed, with a start');
SELECT is(pg_temp.sel(tstzrange('2025-08-01', '2025-09-01'), NULL, false), 'A1 A2', 'report_sessions: started in range');
SELECT is(pg_temp.sel(tstzrange('2025-08-01', '2025-09-01'), 'S', false), 'A1', 'report_sessions: one site');
SELECT is(pg_temp.sel(tstzrange('2025-08-01', '2025-09-01'), NULL, true), 'A1 A2 A3', 'report_sessions: active sessions included');
CREATE FUNCTION pg_temp.sel_sites(site text, sites text[]) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(s.external_id, ' ' ORDER BY s.external_id), '')
      FROM sessions.report_sessions(tstzrange('2025-08-01', '2025-11-01'), site, true, sites) s WHERE s.namespace = 'tap_sel' $$;
SELECT is(pg_temp.sel_sites(NULL, '{S}') || ' / ' || pg_temp.sel_sites(NULL, '{S,T}') || ' / ' || pg_temp.sel_sites(NULL, '{T,nowhere}'),
          'A1 A3 A5 / A1 A2 A3 A5 / A2', 'report_sessions: sites, one or several (a name matching none adds nothing)');
SELECT is(pg_temp.sel_sites('S', '{S,T}') || ' / ' || pg_temp.sel_sites('T', '{S}') || ' / ' || pg_temp.sel_sites(NULL, '{}'),
          'A1 A3 A5 /  / ', 'report_sessions: site and sites both apply; an empty sites array selects nothing');
SELECT is(pg_temp.sel_sites('s', NULL) || ' / ' || pg_temp.sel_sites(NULL, '{s,t}'),
          ' / ', 'report_sessions: names match exactly (session-report resolves --site without regard to case first)');
SELECT is((SELECT sessions || ' ' || completed FROM sessions.summary_report(tstzrange('2025-08-01', '2025-08-31'), 'UTC', 1, NULL, true, '{S}'))
          || ' / ' || (SELECT string_agg(day || ':' || sessions, ' ' ORDER BY day)
                         FROM sessions.daily_report(tstzrange('2025-08-01', '2025-08-31'), 'UTC', 1, 'S', false, '{S,T}')),
          '2 1 / 2025-08-02:1', 'summary_report and daily_report pass site and sites to report_sessions');
SELECT is(pg_temp.sel(tstzrange(NULL, NULL), NULL, false) || ' / ' || pg_temp.sel('empty', NULL, true)
          || ' / ' || pg_temp.sel(tstzrange('2025-08-02 10:00+00', '2025-08-03 10:00+00', '(]'), NULL, false),
          'A1 A2 A5 /  / A2', 'report_sessions: unbounded, empty and exclusive-lower ranges');
SELECT is((SELECT s.micro || ' ' || s.empty || ' ' || u.n
             FROM sessions.summary_report(tstzrange('2025-08-01', '2025-09-01'), 'UTC', 2) s,
                  (SELECT count(*) n FROM sessions.user_report(NULL, tstzrange('2025-08-01', '2025-09-01'))) u),
          '1 1 3', 'the reports read report_sessions (summary: completed; user_report: active too)');
\ir lib/explain.sql
SELECT matches(pg_temp.explain($$SELECT * FROM sessions.report_sessions(tstzrange('2025-08-01', '2025-09-01'), 'S')$$),
               '^(?!.*Function Scan).*on store s', 'report_sessions is inlined: the plan scans the store, no Function Scan');
SELECT matches(pg_temp.explain($$SELECT * FROM sessions.report_sessions(tstzrange('2025-08-01', '2025-09-01'), NULL, false, '{S,T}')$$),
               '^(?!.*Function Scan).*on store s.*ANY', 'report_sessions with sites is inlined too (the sites test in the store scan)');
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.explain($$SELECT * FROM sessions.report_sessions(tstzrange('2025-08-01', '2025-09-01'))$$),
               'store_started_at_idx', 'with a known range the inlined filter can use the started_at index');
RESET enable_seqscan;
-- The report functions run their bodies with generic plans (parameters
-- unknown); the inlining holds there too, and for a reader.
PREPARE sa_generic(tstzrange, text, boolean) AS SELECT count(*) FROM sessions.report_sessions($1, $2, $3);
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT matches(pg_temp.explain($$EXECUTE sa_generic(NULL, NULL, false)$$),
               '^(?!.*Function Scan).*on store s', 'inlined in a generic plan');
SET LOCAL ROLE session_analytics_reader;
SELECT matches(pg_temp.explain($$EXECUTE sa_generic(NULL, NULL, false)$$),
               '^(?!.*Function Scan).*on store s', 'inlined for a reader');
RESET ROLE;
-- The bodies of the reports, planned as they are run (generic plans of
-- their parameters): each reads report_sessions, inlined. The body is
-- taken from the catalog, so this is the function the extension created.
CREATE FUNCTION pg_temp.body_plan(fn regprocedure) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('PREPARE sa_body(%s) AS %s',
                   (SELECT string_agg(format_type(u.t, NULL), ', ' ORDER BY u.o) FROM pg_proc p, unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o) WHERE p.oid = fn),
                   (SELECT p.prosrc FROM pg_proc p WHERE p.oid = fn));
    r := pg_temp.explain('EXECUTE sa_body(' || (SELECT string_agg('NULL', ', ') FROM pg_proc p, unnest(p.proargtypes) WHERE p.oid = fn) || ')');
    DEALLOCATE sa_body;
    RETURN r;
END $$;
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.oid IN ('sessions.daily_report(tstzrange, text, float8, text, boolean, text[])'::regprocedure,
                                 'sessions.summary_report(tstzrange, text, float8, text, boolean, text[])'::regprocedure)
                   AND p.prosrc ~ 'sessions\.report_stats\(\$1, \$2, \$3, \$4, \$5, \$6\)' AND p.prosrc !~ 'sessions\.(store|report_sessions|summary_stats)\M'
                 ORDER BY 1),
          ARRAY['daily_report', 'summary_report'], 'daily_report and summary_report read their figures from report_stats only');
-- The reports scan the store in PL/pgSQL (report_stats for daily_report
-- and summary_report, user_report_rows for user_report), naming the store
-- itself, because Citus plans only queries that name the distributed table
-- and binds only PL/pgSQL's parameters (docs/scale-out.md). Their selection
-- must be report_sessions': the same session_stats for every kind of call.
SELECT matches(pg_get_functiondef('sessions.report_stats(tstzrange, text, float8, text, boolean, text[])'::regprocedure),
               '^(?!.*report_sessions\().*session_stats_agg\(s\.started_at, s\.ended_at, s\.kwh, zone, \$3\)\s+INTO st\s+FROM sessions\.store s',
               'report_stats scans the store itself, zone and micro_threshold passed as values');
SELECT matches(pg_get_functiondef('sessions.user_report_rows(text, tstzrange, text, float8)'::regprocedure),
               '^(?!.*report_sessions\().*FROM sessions\.store s', 'user_report_rows scans the store itself');
CREATE TEMP TABLE rs_args AS
    SELECT * FROM (VALUES (1, NULL::tstzrange, NULL::text, false, NULL::text[]),
                          (2, NULL, NULL, true, NULL),
                          (3, tstzrange('2025-01-01', '2025-12-01'), NULL, false, NULL),
                          (4, tstzrange('2020-01-01', NULL), NULL, true, NULL),
                          (5, tstzrange(NULL, '2025-08-06', '[]'), 'S', true, NULL),
                          (6, NULL, NULL, false, '{S,S2}'),
                          (7, tstzrange('2025-08-05 10:00+00', '2025-08-05 10:00+00', '[]'), NULL, true, NULL)) v(n, r, site, act, sites);
SELECT is(ARRAY(SELECT COALESCE(sessions.report_stats(a.r, 'UTC', 0.7, a.site, a.act, a.sites)::text, 'none') FROM rs_args a ORDER BY a.n),
          ARRAY(SELECT COALESCE((SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'UTC', 0.7)
                                   FROM sessions.report_sessions(a.r, a.site, a.act, a.sites) s)::text, 'none') FROM rs_args a ORDER BY a.n),
          'report_stats selects report_sessions'' rows (ranges, site, sites, include_active)');
RESET plan_cache_mode;
DEALLOCATE sa_generic;
-- report_time_zone picks the zone from the sites of the sessions
-- report_sessions returns (active ones too): the telemetry session of site S
-- does not count, nor sessions outside the range.
INSERT INTO sessions.site (namespace, time_zone) VALUES ('tap_sel', 'Asia/Tokyo');
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site) VALUES
    ('telemetry', 'tap_sel_tm', 'B1', 'FINISHED', '2025-08-05 10:00+00', '2025-08-05 11:00+00', 3, 'S');
INSERT INTO sessions.site (namespace, time_zone) VALUES ('tap_sel_tm', 'Europe/Oslo');
SELECT is((SELECT z.time_zone || ' ' || z.source FROM sessions.report_time_zone(tstzrange('2025-08-04', '2025-08-06'), NULL, '{S}') z),
          'Asia/Tokyo site', 'report_time_zone: the zone of the sites report_sessions selects (an active session counts, telemetry does not)');
SELECT is((SELECT z.source FROM sessions.report_time_zone(tstzrange('2025-08-04', '2025-08-06'), NULL, '{s}') z),
          'default', 'report_time_zone: sites match exactly, as the reports');
SELECT matches(pg_get_functiondef('sessions.report_time_zone(tstzrange, text, text[], text, text)'::regprocedure),
               '^(?!.*sessions\.store).*FROM sessions\.report_sessions\(', 'report_time_zone reads report_sessions, not the store');
-- The selection is written once: no other function of the extension
-- filters the store by the charging kinds. (The live summaries' readers,
-- report_path and summary_stats, pick the same kinds from the summary rows,
-- not from the store; check_summaries proves both selections equal.)
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                 JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'session_analytics'
                 WHERE pg_get_functiondef(p.oid) ~ '''ocpi''.*''powerflex''' AND p.prokind <> 'a'
                   AND pg_get_functiondef(p.oid) ~ 'sessions\.store\M(?!_)'
                 ORDER BY 1),
          ARRAY['sessions.report_sessions(tstzrange,text,boolean,text[])', 'sessions.report_stats(tstzrange,text,double precision,text,boolean,text[])',
                'sessions.user_report_rows(text,tstzrange,text,double precision)'],
          'only report_sessions and its Citus copies (report_stats, user_report_rows) name the charging kinds');
DELETE FROM sessions.store WHERE namespace IN ('tap_sel', 'tap_sel_tm');
DELETE FROM sessions.site WHERE namespace IN ('tap_sel', 'tap_sel_tm');

-- ---- rollup: same zone and parameters only ------------------------------------
CREATE TEMP TABLE parts (site text, st sessions.session_stats);
INSERT INTO parts
SELECT 'a', sessions.session_stats_agg(t, t + interval '1h', 5, 'Europe/Warsaw')
  FROM generate_series(timestamptz '2025-01-01', '2025-01-05', '3 hours') t;
INSERT INTO parts
SELECT 'b', sessions.session_stats_agg(t, t + interval '1h', 0.5, 'Europe/Warsaw')
  FROM generate_series(timestamptz '2025-01-03', '2025-01-09', '5 hours') t;
SELECT is((SELECT sessions.rollup(st) FROM parts)::text,
          (SELECT sessions.session_stats_agg(t, t + interval '1h', k, 'Europe/Warsaw')
             FROM (SELECT t, 5::float8 k FROM generate_series(timestamptz '2025-01-01', '2025-01-05', '3 hours') t
                   UNION ALL
                   SELECT t, 0.5 FROM generate_series(timestamptz '2025-01-03', '2025-01-09', '5 hours') t) u)::text,
          'rollup of two summaries equals one summary of all rows');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (SELECT st FROM parts
                     UNION ALL SELECT sessions.session_stats_agg(now(), now(), 1, 'UTC')) u$$,
                 '22023', NULL, 'rollup: different zones');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (SELECT st FROM parts
                     UNION ALL SELECT sessions.session_stats_agg(now(), now(), 1, 'Europe/Warsaw', 2)) u$$,
                 '22023', NULL, 'rollup: different thresholds');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (SELECT st FROM parts
                     UNION ALL SELECT sessions.session_stats_agg(now(), now(), 1, 'Europe/Warsaw', 1, 230)) u$$,
                 '22023', NULL, 'rollup: different volts');
SELECT throws_ok($$SET LOCAL session_analytics.good_amps = 32;
                   SELECT sessions.rollup(st) FROM (SELECT st FROM parts
                     UNION ALL SELECT sessions.session_stats_agg(now(), now(), 1, 'Europe/Warsaw')) u$$,
                 '22023', NULL, 'rollup: different rating limits');
RESET session_analytics.good_amps;
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (VALUES
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 9223372036854775807 0 0 0 0 0 0 0 0'::sessions.session_stats),
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 9 0 0 0 0 0 0 0 0')) v(st)$$,
                 '22003', NULL, 'rollup: counter overflow');

-- ---- hostile text values --------------------------------------------------------
SELECT throws_ok($$SELECT ''::sessions.session_stats$$, '22P02', NULL, 'text: empty');
SELECT throws_ok($$SELECT 'v2 tz=UTC micro=1 volts=208 good=16 fair=8'::sessions.session_stats$$, '22P02', NULL, 'text: unknown version');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=x volts=208 good=16 fair=8'::sessions.session_stats$$, '22P02', NULL, 'text: bad float');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=NaN volts=208 good=16 fair=8'::sessions.session_stats$$, '22P02', NULL, 'text: NaN');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=0 volts=208 good=16 fair=8'::sessions.session_stats$$, '22023', NULL, 'text: threshold 0');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=8 fair=16'::sessions.session_stats$$, '22023', NULL, 'text: fair above good');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-02-30 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: impossible date');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: truncated day');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0 7'::sessions.session_stats$$, '22P02', NULL, 'text: trailing garbage');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 99999999999999999999 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: count overflow');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 2 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: more empty than completed');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 1 1 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: more ratings than completed');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 -1 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: negative count');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 0 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: day without sessions');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 -5 0'::sessions.session_stats$$, '22P02', NULL, 'text: negative kWh');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-02 0 1 0 0 0 0 0 0 0 0 | 2025-01-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: days out of order');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0 | 2025-01-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$, '22P02', NULL, 'text: duplicate day');
SELECT is(('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 2 5 1 1 2 1 1 1 12.5 3600000000'::sessions.session_stats)::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 2 5 1 1 2 1 1 1 12.5 3600000000', 'text: hand-made valid value round-trips');

-- ---- hostile binary values (COPY BINARY of raw bytes into the type) -------------
CREATE TEMP TABLE raw (b bytea);
CREATE TEMP TABLE typed (st sessions.session_stats);
CREATE FUNCTION pg_temp.recv(hex text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE raw, typed;
    INSERT INTO raw VALUES (decode(hex, 'hex'));
    EXECUTE format('COPY raw TO %L (FORMAT binary)', current_setting('data_directory') || '/sa_recv.bin');
    EXECUTE format('COPY typed FROM %L (FORMAT binary)', current_setting('data_directory') || '/sa_recv.bin');
    RETURN (SELECT st::text FROM typed);
END $$;
-- version 1, tz 'UTC', 1.0, 208, 16, 8, then ndays and days
SELECT is(pg_temp.recv('01' || '00000003' || encode('UTC', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000'),
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8', 'binary: hand-made empty value');
SELECT throws_ok($$SELECT pg_temp.recv('')$$, '22P03', NULL, 'binary: empty');
SELECT throws_ok($$SELECT pg_temp.recv('02000000035554433ff0000000000000')$$, '22P03', NULL, 'binary: unknown version');
SELECT throws_ok($$SELECT pg_temp.recv('017fffffff')$$, '22P03', NULL, 'binary: huge zone length');
SELECT throws_ok($$SELECT pg_temp.recv('01' || '00000003' || encode('UTC', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '7fffffff')$$, '22P03', NULL, 'binary: day count beyond the data');
SELECT throws_ok($$SELECT pg_temp.recv('01' || '00000003' || '550143' || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000')$$, '22P03', NULL, 'binary: zone name with a control byte');
SELECT throws_ok($$SELECT pg_temp.recv('01' || '00000003' || encode('UTC', 'hex') || 'fff8000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000')$$, '22023', NULL, 'binary: NaN threshold');
SELECT throws_ok($$SELECT pg_temp.recv('01' || '00000003' || encode('UTC', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000001'
                       || '00002400' || repeat('0000000000000000', 1) || '0000000000000001' || repeat('ffffffffffffffff', 1)
                       || repeat('0000000000000000', 5) || '0000000000000000' || '0000000000000000')$$,
                 '22P03', NULL, 'binary: negative counter');
-- binary round trip of a real summary
TRUNCATE typed;
INSERT INTO typed SELECT st FROM parts;
SELECT lives_ok(format($$COPY typed TO %L (FORMAT binary)$$, current_setting('data_directory') || '/sa_typed.bin'), 'binary: COPY TO');
CREATE TEMP TABLE typed2 (st sessions.session_stats);
SELECT lives_ok(format($$COPY typed2 FROM %L (FORMAT binary)$$, current_setting('data_directory') || '/sa_typed.bin'), 'binary: COPY FROM');
SELECT bag_eq($$SELECT st::text FROM typed2$$, $$SELECT st::text FROM parts$$, 'binary: round trip keeps every value');

-- ---- hostile values: every message and SQLSTATE from one helper ---------------
-- err(q): 'ok' or 'SQLSTATE: message' of running q.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- raw(st) / st(bytea): the in-memory bytes of a value and back, unchecked
-- (byteasend returns its detoasted argument): values as a table may hold them.
CREATE FUNCTION pg_temp.raw(sessions.session_stats) RETURNS bytea LANGUAGE internal IMMUTABLE STRICT AS 'byteasend';
CREATE FUNCTION pg_temp.st(bytea) RETURNS sessions.session_stats LANGUAGE internal IMMUTABLE STRICT AS 'byteasend';

-- text: strict dates (no sscanf wrap-around), subnormal kWh, negative durations, zones
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 4294967296-01-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$,
                 '22P02', NULL, 'text: year 4294967296 is refused, not read as 0000');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-1-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$,
                 '22P02', NULL, 'text: one-digit month');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | +2025-01-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$,
                 '22P02', NULL, 'text: signed year');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | -4713-11-23 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats$$,
                 '22P02', NULL, 'text: the day before the date range');
SELECT is(('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | -4713-11-24 0 1 0 0 0 0 0 0 0 0 | 5874897-12-31 1 0 0 0 0 0 0 0 0 0'::sessions.session_stats)::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | -4713-11-24 0 1 0 0 0 0 0 0 0 0 | 5874897-12-31 1 0 0 0 0 0 0 0 0 0',
          'text: the first and the last date round-trip');
SELECT is(('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 1 0 0 0 0 5e-324 0'::sessions.session_stats)::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 1 0 0 0 0 5e-324 0',
          'text: a subnormal kWh round-trips');
SELECT is((SELECT sessions.session_stats_agg('2025-01-01', '2025-01-02', 5e-324))::text::sessions.session_stats::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 1 0 0 0 1 5e-324 86400000000',
          'text: an aggregated subnormal kWh reads back');
SELECT throws_ok($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 -5'::sessions.session_stats$$,
                 '22P02', NULL, 'text: negative duration');
SELECT throws_ok($$SELECT 'v1 tz=Mars/Olympus micro=1 volts=208 good=16 fair=8'::sessions.session_stats$$,
                 '22023', NULL, 'text: unknown zone');
SELECT is(('v1 tz=utc micro=1 volts=208 good=16 fair=8'::sessions.session_stats)::text || ' / ' ||
          ('v1 tz=europe/warsaw micro=1 volts=208 good=16 fair=8'::sessions.session_stats)::text || ' / ' ||
          ('v1 tz=<+0530>-5:30 micro=1 volts=208 good=16 fair=8'::sessions.session_stats)::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 / v1 tz=Europe/Warsaw micro=1 volts=208 good=16 fair=8 / v1 tz=<+0530>-5:30 micro=1 volts=208 good=16 fair=8',
          'text: zone names are stored canonically');
SELECT ok(length(pg_temp.err($$SELECT ('v1 tz=UTC micro=x ' || repeat('y', 100000))::sessions.session_stats$$)) < 200,
          'text: a syntax error echoes a bounded part of the input');
SELECT is(pg_temp.err($$SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 2 0 0 0 0 0 0 0'::sessions.session_stats$$),
          '22P02: invalid session_stats value', 'text: an inconsistent day is 22P02, not XX001');

-- binary: zone encoding and known zones, canonical spelling
SELECT throws_ok($$SELECT pg_temp.recv('01' || '00000002' || 'c328' || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000')$$, '22P03', NULL, 'binary: zone name not valid UTF-8');
SELECT throws_ok($$SELECT pg_temp.recv('01' || '0000000c' || encode('Mars/Olympus', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000')$$, '22023', NULL, 'binary: unknown zone');
SELECT is(pg_temp.recv('01' || '00000003' || encode('utc', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000000'),
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8', 'binary: zone stored canonically');
SELECT is(pg_temp.err($$SELECT pg_temp.recv('01' || '00000003' || encode('UTC', 'hex') || '3ff0000000000000' || '406a000000000000'
                       || '4030000000000000' || '4020000000000000' || '00000001' || '00002400' || repeat('00', 8) || '0000000000000001'
                       || repeat('00', 56) || 'fffffffffffffffb')$$),
          '22P03: invalid session_stats value', 'binary: negative duration is 22P03');

-- stored values: short header, compressed inline, compressed out of line
CREATE TEMP TABLE stored (k text, st sessions.session_stats, stm sessions.session_stats);
ALTER TABLE stored ALTER COLUMN stm SET STORAGE main;
INSERT INTO stored SELECT 'short', 'v1 tz=UTC micro=1 volts=208 good=16 fair=8', NULL;
INSERT INTO stored SELECT 'long', s, s
  FROM (SELECT sessions.session_stats_agg(t, t + interval '1 hour', 2, 'Europe/Warsaw') s
          FROM generate_series(timestamptz '2001-01-01', '2020-12-31', '1 day') t) a;
INSERT INTO stored SELECT 'mid', s, s
  FROM (SELECT sessions.session_stats_agg(t, t + interval '1 hour', 2, 'Europe/Warsaw') s
          FROM generate_series(timestamptz '2001-01-01', '2001-04-30', '1 day') t) a;
SELECT ok((SELECT pg_column_size(st) < 100 FROM stored WHERE k = 'short')
          AND (SELECT pg_column_compression(st) IS NOT NULL AND pg_column_size(st) > 2000 FROM stored WHERE k = 'long')
          AND (SELECT pg_column_compression(stm) IS NOT NULL FROM stored WHERE k = 'mid'),
          'stored: a short-header, a toasted and an inline-compressed value');
SELECT throws_ok($$SELECT sessions.session_stats_final(st) FROM stored WHERE k = 'long'$$, '0A000', NULL,
                 'final outside an aggregate: refused (it read toast pointers as values)');
SELECT throws_ok($$SELECT sessions.session_stats_final(st) FROM stored WHERE k = 'short'$$, '0A000', NULL,
                 'final outside an aggregate: refused (it misread short headers)');
SELECT is((SELECT string_agg(k || ':' || (SELECT count(*) FROM sessions.days(st)) || ':' || (sessions.totals(st)).sessions
                             || ':' || length(sessions.daily_chart_svg(st)::text) / 1000 || ':' || md5(st::text)
                             || ':' || (stm IS NULL OR (stm::text = st::text AND (SELECT count(*) FROM sessions.days(stm)) > 0)), ' ' ORDER BY k)
             FROM stored),
          (SELECT string_agg(k || ':' || n || ':' || n || ':' || length(sessions.daily_chart_svg(s)::text) / 1000 || ':' || md5(s::text) || ':true', ' ' ORDER BY k)
             FROM (SELECT k, st::text::sessions.session_stats s, (SELECT count(*) FROM sessions.days(st)) n FROM stored) x),
          'stored: days, totals, daily_chart_svg and out read every storage form');
SELECT is((SELECT sessions.rollup(st)::text FROM stored WHERE k IN ('long', 'mid')),
          (SELECT sessions.rollup(st::text::sessions.session_stats)::text FROM stored WHERE k IN ('long', 'mid')),
          'stored: rollup reads toasted and compressed values');

-- ---- the date range, overflow, negative durations ------------------------------
SELECT throws_ok($$SELECT sessions.session_stats_agg('4714-11-24 00:00+00 BC', NULL, NULL, 'America/New_York')$$,
                 '22008', NULL, 'agg: a local day before the date range is refused before it is stored');
SELECT is((SELECT sessions.session_stats_agg('4714-11-24 00:00+00 BC', NULL, NULL, 'UTC'))::text::sessions.session_stats::text,
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | -4713-11-24 1 0 0 0 0 0 0 0 0 0', 'agg: the first day in UTC round-trips');
SELECT is((SELECT sessions.session_stats_agg('294276-12-31 23:59:59+00', NULL, NULL, 'Asia/Tokyo'))::text::sessions.session_stats::text,
          'v1 tz=Asia/Tokyo micro=1 volts=208 good=16 fair=8 | 294277-01-01 1 0 0 0 0 0 0 0 0 0', 'agg: the last timestamp east of UTC round-trips');
SELECT is((SELECT string_agg(d.day::text, ' ' ORDER BY d.day)
             FROM sessions.days((SELECT sessions.session_stats_agg(t, NULL, NULL, '<+167>-167')
                                   FROM (VALUES (timestamptz '2025-01-01 00:00+00'), ('294276-12-31 23:59:59.999999+00')) v(t))) d),
          '2025-01-07 294277-01-07',
          'agg: the largest zone offset (167 h) at the last timestamp: local days without overflow');
SELECT throws_ok($$SELECT sessions.average_power_w(1, '4714-11-24 00:00+00 BC', '294276-12-31 23:59:59+00')$$,
                 '22003', NULL, 'average_power_w: a span beyond int64 microseconds is 22003, not NULL');
SELECT throws_ok($$SELECT sessions.average_current_a(1, '4714-11-24 00:00+00 BC', '294276-12-31 23:59:59+00')$$,
                 '22003', NULL, 'average_current_a: the same span is 22003');
SELECT throws_ok($$SELECT sessions.session_stats_agg('4714-11-24 00:00+00 BC', '294276-12-31 23:59:59+00', 1)$$,
                 '22003', NULL, 'agg: end - start overflow is 22003 (was a negative duration)');
SELECT throws_ok($$SELECT sessions.session_stats_agg(s, s + interval '200000 years', 1)
                     FROM generate_series(timestamptz '2000-01-01', '2000-01-01 00:00:02', '1 second') s$$,
                 '22003', NULL, 'agg: overflow of a day''s duration total is 22003');
SELECT throws_ok($$SELECT sessions.session_stats_agg('2025-01-01 10:00+00', '2025-01-01 09:59:59+00', 1)$$,
                 '22023', NULL, 'agg: ended_at before started_at is refused');
SELECT is(sessions.average_power_w(1, '2025-01-01 10:00+00', '2025-01-01 09:00+00'), NULL,
          'average_power_w: a negative duration has no average (NULL)');
SELECT throws_ok($$SELECT sessions.session_stats_agg(now(), now() + interval '1h', 1.797e308) FROM generate_series(1, 2)$$,
                 '22003', NULL, 'agg: kWh total beyond float8 is 22003, not Infinity');
SELECT throws_ok($$SELECT * FROM sessions.totals('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1.797e308 0 | 2025-01-02 0 1 0 0 1 0 0 0 1.797e308 0')$$,
                 '22003', NULL, 'totals: kWh total beyond float8 is 22003, not Infinity');
SELECT throws_ok($$SELECT * FROM sessions.totals('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 9223372036854775807 0 0 0 0 0 0 0 0 0 | 2025-01-02 0 9223372036854775807 0 0 0 0 0 0 0 0')$$,
                 '22003', NULL, 'totals: sessions = active + completed beyond int64 is 22003 (was negative)');
SELECT throws_ok($$SELECT * FROM sessions.totals('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 9223372036854775807 | 2025-01-02 0 1 0 0 0 0 0 0 0 1')$$,
                 '22003', NULL, 'totals: duration total beyond int64 is 22003');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (VALUES
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 9223372036854775807 0 0 0 0 0 0 0 0 0'::sessions.session_stats),
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0')) v(st)$$,
                 '22003', NULL, 'rollup: a day''s active + completed beyond int64 is 22003 (was an invalid value)');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (VALUES
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1.797e308 0'::sessions.session_stats),
                     ('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1.797e308 0')) v(st)$$,
                 '22003', NULL, 'rollup: the same kWh rule as the aggregate and totals');

-- ---- zones that differ in letter case merge --------------------------------------
SELECT is((SELECT sessions.session_stats_agg(now(), now(), 1, tz) FROM (VALUES ('UTC'), ('utc'), ('Utc')) v(tz))::text ~ '^v1 tz=UTC ',
          true, 'agg: UTC, utc and Utc are one zone');
SELECT is((SELECT sessions.rollup(st) FROM (VALUES
              ((SELECT sessions.session_stats_agg('2025-01-01', '2025-01-01', 1, 'europe/warsaw'))),
              ('v1 tz=Europe/Warsaw micro=1 volts=208 good=16 fair=8 | 2025-01-02 0 1 0 0 1 0 0 0 1 0')) v(st))::text,
          'v1 tz=Europe/Warsaw micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1 0 | 2025-01-02 0 1 0 0 1 0 0 0 1 0',
          'rollup: europe/warsaw and Europe/Warsaw merge');
-- a value stored by 0.1.0 kept the zone as given ('utc'): it still reads and merges
SELECT is((WITH v(o, st) AS (VALUES (1, pg_temp.st(overlay(pg_temp.raw('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0') placing 'utc' from 53))),
                                    (2, 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-02 0 1 0 0 0 0 0 0 0 0'))
           SELECT (SELECT sessions.rollup(st ORDER BY o)::text FROM v) || ' / ' || (SELECT sessions.rollup(st ORDER BY o DESC)::text FROM v)),
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0 | 2025-01-02 0 1 0 0 0 0 0 0 0 0 / '
          || 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0 | 2025-01-02 0 1 0 0 0 0 0 0 0 0',
          'rollup: a 0.1.0 value with zone utc merges with UTC (canonical result)');
SELECT is((SELECT (sessions.totals(pg_temp.st(overlay(pg_temp.raw('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0') placing 'utc' from 53)))).completed),
          1::bigint, 'a 0.1.0 value with zone utc still reads');
SELECT throws_ok($$SELECT sessions.rollup(st) FROM (VALUES ('v1 tz=UTC micro=1 volts=208 good=16 fair=8'::sessions.session_stats),
                     ('v1 tz=Etc/UTC micro=1 volts=208 good=16 fair=8')) v(st)$$,
                 '22023', NULL, 'rollup: different zone names still do not merge');
-- hostile in-memory layouts (what a table may hold) are refused with 22P03
SELECT is(pg_temp.err($$SELECT sessions.days(pg_temp.st(overlay(pg_temp.raw('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 0 0 0 0 0 0') placing '\xff'::bytea from 53)))$$),
          '22P03: invalid session_stats value', 'stored: a zone with an invalid byte is 22P03');
SELECT is(pg_temp.err($$SELECT sessions.totals(pg_temp.st('\x0100'))$$),
          '22P03: invalid session_stats value', 'stored: a truncated value is 22P03');
SELECT is(pg_temp.err($$SELECT sessions.rollup(pg_temp.st(overlay(pg_temp.raw('v1 tz=UTC micro=1 volts=208 good=16 fair=8') placing '\xffffff7f'::bytea from 5)))$$),
          '22P03: invalid session_stats value', 'stored: a huge day count is 22P03');

-- ---- privileges: support functions and type I/O for the owner only --------------
SELECT is(ARRAY(SELECT p.oid::regprocedure::text
                  FROM pg_proc p
                  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'session_analytics'
                 WHERE p.proname ~ '^session_stats_(recv|send|trans|final|combine)$'
                   AND (has_function_privilege('public', p.oid, 'EXECUTE')
                        OR has_function_privilege('session_analytics_reader', p.oid, 'EXECUTE')
                        OR has_function_privilege('session_analytics_writer', p.oid, 'EXECUTE'))
                 ORDER BY 1),
          '{}'::text[], 'no role but the owner executes binary I/O or aggregate support functions');
SELECT is(ARRAY(SELECT f FROM unnest(ARRAY[
              'sessions.analytics_setting(text)', 'sessions.report_sessions(tstzrange, text, boolean, text[])',
              'sessions.session_stats_in(cstring)', 'sessions.session_stats_out(sessions.session_stats)',
              'sessions.classify(float8, float8)', 'sessions.average_power_w(float8, timestamptz, timestamptz)',
              'sessions.average_current_a(float8, timestamptz, timestamptz, float8)', 'sessions.charge_rating(float8, float8, float8)',
              'sessions.format_duration(interval)', 'sessions.date_range(text, text, timestamptz)',
              'sessions.session_stats_agg(timestamptz, timestamptz, float8)', 'sessions.session_stats_agg(timestamptz, timestamptz, float8, text)',
              'sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8)',
              'sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8, float8)',
              'sessions.rollup(sessions.session_stats)', 'sessions.days(sessions.session_stats)', 'sessions.totals(sessions.session_stats)',
              'sessions.daily_report(tstzrange, text, float8, text, boolean, text[])', 'sessions.summary_report(tstzrange, text, float8, text, boolean, text[])',
              'sessions.report_time_zone(tstzrange, text, text[], text, text)',
              'sessions.user_report(text, tstzrange, text, float8)']) f
                 WHERE NOT has_function_privilege('session_analytics_reader', f, 'EXECUTE')
                    OR NOT has_function_privilege('session_analytics_writer', f, 'EXECUTE')
                    OR has_function_privilege('public', f, 'EXECUTE')),
          '{}'::text[], 'the user-facing functions: reader and writer, not PUBLIC');
SET LOCAL ROLE session_analytics_reader;
SELECT is((SELECT sessions.rollup(st)::text FROM (SELECT sessions.session_stats_agg(t, t, 0, 'Europe/Warsaw') st
                                                    FROM generate_series(timestamptz '2025-01-01', '2025-01-03', '1 day') t GROUP BY t) g),
          'v1 tz=Europe/Warsaw micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 1 0 0 0 0 0 0 0 | 2025-01-02 0 1 1 0 0 0 0 0 0 0 | 2025-01-03 0 1 1 0 0 0 0 0 0 0',
          'a reader runs session_stats_agg and rollup (support functions are checked against the owner)');
SELECT throws_ok($$SELECT sessions.session_stats_final('v1 tz=UTC micro=1 volts=208 good=16 fair=8')$$, '42501', NULL,
                 'a reader cannot call the final function');
SELECT throws_ok($$SELECT sessions.session_stats_combine(NULL, 'v1 tz=UTC micro=1 volts=208 good=16 fair=8')$$, '42501', NULL,
                 'a reader cannot call the combine function');
SELECT throws_ok($$SELECT sessions.session_stats_trans(NULL, now(), now(), 1)$$, '42501', NULL,
                 'a reader cannot call the transition function');
SELECT throws_ok($$SELECT sessions.session_stats_send('v1 tz=UTC micro=1 volts=208 good=16 fair=8')$$, '42501', NULL,
                 'a reader cannot call the send function');
SELECT is(('v1 tz=UTC micro=1 volts=208 good=16 fair=8'::sessions.session_stats)::text
          || (SELECT string_agg(x::sessions.session_stats::text, '') FROM (VALUES ('v1 tz=utc micro=1 volts=208 good=16 fair=8')) v(x)),
          'v1 tz=UTC micro=1 volts=208 good=16 fair=8v1 tz=UTC micro=1 volts=208 good=16 fair=8',
          'a reader casts text to session_stats and back, constant or not');
RESET ROLE;

-- ---- report bodies bind to pg_catalog, whatever the sessions schema holds --------
CREATE FUNCTION sessions.upper(tstzrange) RETURNS timestamptz LANGUAGE sql AS $$SELECT '-infinity'::timestamptz$$;
CREATE FUNCTION sessions.sa_false(tstzrange, timestamptz) RETURNS boolean LANGUAGE sql AS $$SELECT false$$;
CREATE OPERATOR sessions.@> (LEFTARG = tstzrange, RIGHTARG = timestamptz, FUNCTION = sessions.sa_false);
SELECT is((SELECT count(*) FROM sessions.daily_report(tstzrange('2025-09-01', '2025-09-02')))
          + (SELECT sessions FROM sessions.summary_report(tstzrange('2025-09-01', '2025-09-02')))
          + (SELECT count(*) FROM sessions.user_report(NULL, tstzrange('2025-09-01', '2025-09-02')))
          + (SELECT count(*) FROM sessions.report_sessions(tstzrange('2025-09-01', '2025-09-02'))),
          4::bigint, 'reports and report_sessions ignore sessions.upper(tstzrange) and sessions.@> (names are qualified)');
DROP OPERATOR sessions.@> (tstzrange, timestamptz);
DROP FUNCTION sessions.sa_false(tstzrange, timestamptz);
DROP FUNCTION sessions.upper(tstzrange);

-- ---- 100k randomized rows against straightforward SQL ------------------------
SELECT setseed(0.42);
CREATE TEMP TABLE rnd AS
SELECT CASE WHEN r0 < 0.02 THEN NULL ELSE st END AS started_at,
       CASE WHEN r1 < 0.05 THEN NULL ELSE st + greatest(r2 * 30000 - 60, 0) * interval '1 second' END AS ended_at,
       CASE WHEN r3 < 0.05 THEN NULL WHEN r3 < 0.30 THEN 0 WHEN r3 < 0.35 THEN 1.0
            WHEN r3 < 0.40 THEN 1.0 - 1e-9 WHEN r3 < 0.50 THEN r4 ELSE r4 * 60 END AS kwh
  FROM (SELECT timestamptz '2024-01-01 00:00+00' + random() * interval '730 days' AS st,
               random() r0, random() r1, random() r2, random() r3, random() r4
          FROM generate_series(1, 100000)) g;
CREATE FUNCTION pg_temp.sql_days(tz text, thr float8) RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint,
        empty bigint, micro bigint, normal bigint, empty_pct numeric, micro_pct numeric, kwh numeric, avg_s numeric,
        green bigint, orange bigint, red bigint)
LANGUAGE sql AS $$
    SELECT (started_at AT TIME ZONE tz)::date, count(*),
           count(*) FILTER (WHERE ended_at IS NULL), count(*) FILTER (WHERE ended_at IS NOT NULL),
           count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh = 0),
           count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh > 0 AND kwh < thr),
           count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh >= thr),
           round((100.0 * count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh = 0) / nullif(count(*) FILTER (WHERE ended_at IS NOT NULL), 0))::numeric, 6),
           round((100.0 * count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh > 0 AND kwh < thr) / nullif(count(*) FILTER (WHERE ended_at IS NOT NULL), 0))::numeric, 6),
           round(COALESCE(sum(kwh) FILTER (WHERE ended_at IS NOT NULL), 0)::numeric, 6),
           trunc(extract(epoch FROM sum(ended_at - started_at)) * 1000000 / nullif(count(ended_at), 0)) / 1000000,
           count(*) FILTER (WHERE sessions.charge_rating(sessions.average_current_a(kwh, started_at, ended_at)) = 'green'),
           count(*) FILTER (WHERE sessions.charge_rating(sessions.average_current_a(kwh, started_at, ended_at)) = 'orange'),
           count(*) FILTER (WHERE sessions.charge_rating(sessions.average_current_a(kwh, started_at, ended_at)) = 'red')
      FROM rnd WHERE started_at IS NOT NULL GROUP BY 1 $$;
CREATE FUNCTION pg_temp.agg_days(tz text, thr float8) RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint,
        empty bigint, micro bigint, normal bigint, empty_pct numeric, micro_pct numeric, kwh numeric, avg_s numeric,
        green bigint, orange bigint, red bigint)
LANGUAGE sql AS $$
    SELECT day, sessions, active, completed, empty, micro, normal, round(empty_pct::numeric, 6), round(micro_pct::numeric, 6),
           round(kwh::numeric, 6), extract(epoch FROM avg_duration), green, orange, red
      FROM sessions.days((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, tz, thr) FROM rnd)) $$;
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('UTC', 1.0)$$, $$SELECT * FROM pg_temp.sql_days('UTC', 1.0)$$,
              '100k random rows, UTC: days() equals the SQL formulation');
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('America/Los_Angeles', 1.0)$$, $$SELECT * FROM pg_temp.sql_days('America/Los_Angeles', 1.0)$$,
              '100k random rows, America/Los_Angeles');
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('Europe/Warsaw', 1.0 - 1e-9)$$, $$SELECT * FROM pg_temp.sql_days('Europe/Warsaw', 1.0 - 1e-9)$$,
              '100k random rows, Europe/Warsaw, threshold - epsilon');
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('Australia/Lord_Howe', 0.5)$$, $$SELECT * FROM pg_temp.sql_days('Australia/Lord_Howe', 0.5)$$,
              '100k random rows, Australia/Lord_Howe (30-minute DST shift)');
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('PST', 1.0)$$, $$SELECT * FROM pg_temp.sql_days('PST', 1.0)$$,
              '100k random rows, fixed abbreviation PST');
SELECT set_eq($$SELECT * FROM pg_temp.agg_days('<+0530>-5:30', 1.0)$$, $$SELECT * FROM pg_temp.sql_days('<+0530>-5:30', 1.0)$$,
              '100k random rows, POSIX zone +05:30');
SELECT is((SELECT row(t.sessions, t.completed, t.empty, t.micro, t.normal, t.combined)::text
             FROM sessions.totals((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Asia/Kolkata') FROM rnd)) t),
          (SELECT row(count(*), count(ended_at), count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh = 0),
                      count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh > 0 AND kwh < 1),
                      count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh >= 1),
                      count(*) FILTER (WHERE ended_at IS NOT NULL AND kwh < 1))::text
             FROM rnd WHERE started_at IS NOT NULL),
          'totals() equals the SQL formulation');
SELECT is((SELECT count(*) FROM sessions.days((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, tz)
                                                 FROM rnd, (VALUES ('UTC')) z(tz)))),
          (SELECT count(DISTINCT started_at::date) FROM rnd WHERE started_at IS NOT NULL)::bigint,
          'zone from a column (not a constant) works');
SELECT ok(pg_column_size((SELECT sessions.session_stats_agg(started_at, ended_at, kwh) FROM rnd)) < 100 * 731 + 200,
          'the summary grows with days, not rows');

-- ---- forced parallel plan ---------------------------------------------------------
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE TABLE par AS SELECT * FROM rnd;   -- a real table: temp tables are not scanned in parallel
ANALYZE par;
SELECT matches(pg_temp.explain($$SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Europe/Warsaw') FROM par$$),
               'Partial Aggregate', 'EXPLAIN shows a Partial Aggregate');
CREATE TEMP TABLE par_result AS
SELECT day, sessions, active, completed, empty, micro, normal, round(kwh::numeric, 6) kwh,
       round(extract(epoch FROM avg_duration), 3) avg_s, green, orange, red
  FROM sessions.days((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Europe/Warsaw') FROM par));
SELECT matches(pg_temp.explain($$SELECT sessions.rollup(st) FROM (SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Europe/Warsaw') st FROM par GROUP BY ended_at IS NULL) q$$),
               'Gather|Partial', 'rollup over grouped summaries can run in parallel');
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT doesnt_match(pg_temp.explain($$SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Europe/Warsaw') FROM par$$),
               'Partial Aggregate', 'serial plan without workers');
SELECT set_eq($$SELECT * FROM par_result$$,
              $$SELECT day, sessions, active, completed, empty, micro, normal, round(kwh::numeric, 6) kwh,
                       round(extract(epoch FROM avg_duration), 3) avg_s, green, orange, red
                  FROM sessions.days((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'Europe/Warsaw') FROM par))$$,
              'parallel result equals the serial result');
DROP TABLE par;

SELECT * FROM finish();
ROLLBACK;
