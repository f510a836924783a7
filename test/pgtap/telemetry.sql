-- Telemetry sessions: Stream API session management in the store.
BEGIN;
SELECT plan(102);

SELECT has_function('sessions', 'create_session',
    ARRAY['text', 'text', 'integer', 'interval', 'text', 'jsonb', 'uuid[]', 'timestamp with time zone', 'timestamp with time zone']);
SELECT has_function('sessions', 'update_session_details', ARRAY['uuid', 'jsonb']);
SELECT has_function('sessions', 'update_session_identifier', ARRAY['uuid', 'text']);
SELECT has_function('sessions', 'add_associate_session', ARRAY['uuid', 'uuid']);
SELECT has_function('sessions', 'end_session', ARRAY['uuid', 'text', 'timestamp with time zone']);
SELECT has_function('sessions', 'session_info', ARRAY['uuid']);
SELECT has_function('sessions', 'current_sessions', ARRAY['text', 'boolean']);
SELECT function_returns('sessions', 'create_session',
    ARRAY['text', 'text', 'integer', 'interval', 'text', 'jsonb', 'uuid[]', 'timestamp with time zone', 'timestamp with time zone'], 'uuid');
SELECT function_returns('sessions', 'end_session', ARRAY['uuid', 'text', 'timestamp with time zone'], 'boolean');

-- Helpers
SELECT is(sessions.telemetry_details_limit(), 65536, 'details limit is 64 KiB');
SELECT hasnt_function('sessions', 'telemetry_check_details', 'the details check is part of its callers (no helper to grant)');
SELECT hasnt_function('sessions', 'telemetry_check_size', 'the size check is part of its callers');
SELECT hasnt_function('sessions', 'expire_row', 'the expiry write is part of telemetry_row and invoice_row');

-- create_session: key allocated, store conventions kept.
SELECT sessions.create_session('DataSource', identifier => 'silverstone-gp-2024',
    details => '{"track": "Silverstone Circuit", "weather": "dry", "temperature": "22°C"}',
    creation_time => '2024-07-07 14:00+00') AS k1 \gset
SELECT isnt(:'k1'::uuid, NULL, 'create_session returns a key');
SELECT results_eq(
    format($$SELECT kind, namespace, external_id, status, started_at, ended_at FROM sessions.store WHERE session_key = %L$$, :'k1'),
    $$VALUES ('telemetry', 'DataSource', NULL::text, 'LIVE', '2024-07-07 14:00+00'::timestamptz, NULL::timestamptz)$$,
    'stored as kind telemetry, namespace = data_source, LIVE, started_at = creation_time');
SELECT is(sessions.session_info(:'k1') -> 'details' ->> 'temperature', '22°C', 'details kept as given');

-- create_session: bad input writes nothing.
SELECT throws_ok($$SELECT sessions.create_session('')$$, '22023', 'data_source must not be empty', 'empty data_source');
SELECT throws_ok($$SELECT sessions.create_session(NULL)$$, '22023', 'data_source must not be empty', 'NULL data_source');
SELECT throws_ok($$SELECT sessions.create_session('DS', type => '')$$, '22023', 'type must not be empty', 'empty type');
SELECT throws_ok($$SELECT sessions.create_session('DS', version => -1)$$, '22023', NULL, 'negative version');
SELECT throws_ok($$SELECT sessions.create_session('DS', utc_offset => '15 hours')$$, '22023',
                 'utc_offset must be between -14:00 and +14:00', 'utc_offset out of range');
SELECT throws_ok($$SELECT sessions.create_session('DS', identifier => NULL)$$, '22004', NULL, 'NULL identifier');
SELECT throws_ok($$SELECT sessions.create_session('DS', details => '{"lap": 15}')$$, '22023',
                 'details value for key "lap" must be a string, not number', 'non-string detail value');
SELECT throws_ok($$SELECT sessions.create_session('DS', details => '{"x": null}')$$, '22023', NULL, 'null detail value on create');
SELECT throws_ok($$SELECT sessions.create_session('DS', details => '["a"]')$$, '22023', NULL, 'details not an object');
SELECT throws_ok($$SELECT sessions.create_session('DS', details => '{"": "a"}')$$, '22023', 'details keys must not be empty', 'empty detail key');
SELECT throws_ok(format($$SELECT sessions.create_session('DS', details => jsonb_build_object('big', repeat('x', %s)))$$,
                        sessions.telemetry_details_limit()),
                 '22001', NULL, 'details over the documented limit');
SELECT throws_ok($$SELECT sessions.create_session('DS', creation_time => '2024-01-02', valid_until => '2024-01-01')$$,
                 '22023', 'valid_until must be later than creation_time', 'valid_until before creation');
SELECT throws_ok($$SELECT sessions.create_session('DS', associate_keys => ARRAY[gen_random_uuid()])$$,
                 'P0002', NULL, 'unknown associate key');
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'DS'), 0::bigint, 'failed creates wrote nothing');

-- update_session_details: merge, remove with null, only strings.
SELECT lives_ok(format($$SELECT sessions.update_session_details(%L, '{"weather": "wet", "lap_count": "15"}')$$, :'k1'), 'details merged');
SELECT is(sessions.session_info(:'k1') -> 'details',
          '{"track": "Silverstone Circuit", "weather": "wet", "lap_count": "15", "temperature": "22°C"}'::jsonb,
          'new keys added, existing replaced');
SELECT lives_ok(format($$SELECT sessions.update_session_details(%L, '{"temperature": null}')$$, :'k1'), 'null removes a key');
SELECT ok(NOT (sessions.session_info(:'k1') -> 'details') ? 'temperature', 'key removed');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, '{"lap_count": 16}')$$, :'k1'), '22023', NULL,
                 'number value refused on update');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, '{"ok": true}')$$, :'k1'), '22023', NULL,
                 'boolean value refused on update');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, jsonb_build_object('big', repeat('x', 70000)))$$, :'k1'),
                 '22001', NULL, 'merged details over the limit');
SELECT is(sessions.session_info(:'k1') ->> 'details', '{"track": "Silverstone Circuit", "weather": "wet", "lap_count": "15"}',
          'refused updates changed nothing');
SELECT throws_ok($$SELECT sessions.update_session_details(gen_random_uuid(), '{}')$$, 'P0002', NULL, 'unknown key on update');
SELECT throws_ok($$SELECT sessions.update_session_details(NULL, '{}')$$, '22004', NULL, 'NULL key on update');

-- update_session_identifier
SELECT lives_ok(format($$SELECT sessions.update_session_identifier(%L, 'silverstone-gp-2024-r2')$$, :'k1'), 'identifier set');
SELECT is(sessions.session_info(:'k1') ->> 'identifier', 'silverstone-gp-2024-r2', 'identifier changed');
SELECT throws_ok(format($$SELECT sessions.update_session_identifier(%L, NULL)$$, :'k1'), '22004', NULL, 'NULL identifier refused');
SELECT throws_ok($$SELECT sessions.update_session_identifier(gen_random_uuid(), 'x')$$, 'P0002', NULL, 'unknown key on identifier');

-- Associations: both ways, duplicates ignored, cycles refused.
SELECT sessions.create_session('DataSource', identifier => 'associate_session') AS ka \gset
SELECT sessions.create_session('DataSource', identifier => 'main_session', associate_keys => ARRAY[:'ka'::uuid]) AS kp \gset
SELECT results_eq(format('SELECT sessions.associates(%L)', :'kp'), ARRAY[:'ka'::uuid], 'associates() of the parent');
SELECT results_eq(format('SELECT sessions.parents(%L)', :'ka'), ARRAY[:'kp'::uuid], 'parents() of the associate');
SELECT lives_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'kp', :'ka'), 'duplicate association accepted');
SELECT is((SELECT count(*) FROM sessions.telemetry_associate WHERE session_key = :'kp'), 1::bigint, 'duplicate ignored');
SELECT lives_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'kp', :'k1'), 'second associate added');
SELECT is(sessions.session_info(:'kp') -> 'associate_session_keys',
          (SELECT jsonb_agg(k ORDER BY k) FROM unnest(ARRAY[:'ka'::uuid, :'k1'::uuid]) k), 'session_info lists associates');
SELECT throws_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'ka', :'kp'), '23514', NULL, 'direct cycle refused');
SELECT sessions.create_session('DataSource', identifier => 'grandchild') AS kg \gset
SELECT lives_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'ka', :'kg'), 'chain extended');
SELECT throws_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'kg', :'kp'), '23514', NULL, 'longer cycle refused');
SELECT throws_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'kp', :'kp'), '23514', NULL, 'self association refused');
SELECT throws_ok(format('SELECT sessions.add_associate_session(%L, gen_random_uuid())', :'kp'), 'P0002', NULL, 'unknown associate');
SELECT throws_ok(format('SELECT sessions.add_associate_session(gen_random_uuid(), %L)', :'kp'), 'P0002', NULL, 'unknown session');
SELECT throws_ok(format('SELECT sessions.add_associate_session(%L, NULL)', :'kp'), '22004', NULL, 'NULL associate');

-- end_session: true once, then false; data source must match.
SELECT throws_ok(format($$SELECT sessions.end_session(%L, 'OtherSource')$$, :'k1'), '22023',
                 'data_source "OtherSource" does not match session ' || :'k1', 'mismatched data_source');
SELECT throws_ok(format($$SELECT sessions.end_session(%L, '')$$, :'k1'), '22023', NULL, 'empty data_source on end');
SELECT throws_ok(format($$SELECT sessions.end_session(%L, termination_time => '2020-01-01')$$, :'k1'), '22023', NULL,
                 'termination before creation');
SELECT throws_ok($$SELECT sessions.end_session(gen_random_uuid())$$, 'P0002', NULL, 'unknown key on end');
SELECT is(sessions.end_session(:'k1', 'DataSource', '2024-07-07 16:30+00'), true, 'end_session ends a live session');
SELECT is(sessions.end_session(:'k1', 'DataSource'), false, 'ending again returns false');
SELECT results_eq(format($$SELECT status, ended_at FROM sessions.store WHERE session_key = %L$$, :'k1'),
    $$VALUES ('ENDED', '2024-07-07 16:30+00'::timestamptz)$$, 'ENDED with ended_at = termination_time, set once');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, '{"a": "b"}')$$, :'k1'), '55000', NULL,
                 'an ended session no longer changes');
SELECT throws_ok(format($$SELECT sessions.update_session_identifier(%L, 'x')$$, :'k1'), '55000', NULL,
                 'identifier of an ended session is fixed');
SELECT throws_ok(format($$SELECT sessions.add_associate_session(%L, %L)$$, :'k1', :'kg'), '55000', NULL,
                 'an ended session takes no associates');

-- session_info
SELECT is(sessions.session_info(:'k1') - 'details' - 'associate_session_keys' - 'identifier',
          jsonb_build_object('session_key', :'k1'::uuid, 'data_source', 'DataSource', 'type', 'Session', 'version', 1,
                             'is_complete', true, 'status', 'ENDED', 'utc_offset', '00:00:00',
                             'creation_time', '2024-07-07 14:00+00'::timestamptz, 'termination_time', '2024-07-07 16:30+00'::timestamptz,
                             'duration', '02:30:00', 'valid_until', NULL),
          'session_info of an ended session');
SELECT throws_ok($$SELECT sessions.session_info(gen_random_uuid())$$, 'P0002', NULL, 'session_info of an unknown key');

-- current_sessions
SELECT sessions.create_session('Other', type => 'Lap', utc_offset => '02:00', creation_time => '2024-07-07 23:00+00') AS ko \gset
SELECT set_eq($$SELECT key FROM sessions.current_sessions('DataSource')$$, ARRAY[:'ka'::uuid, :'kp'::uuid, :'kg'::uuid],
              'live sessions of one data source');
SELECT set_eq($$SELECT key FROM sessions.current_sessions('DataSource', true)$$, ARRAY[:'ka'::uuid, :'kp'::uuid, :'kg'::uuid, :'k1'::uuid],
              'include_complete adds ended sessions');
SELECT is((SELECT count(*) FROM sessions.current_sessions()), 4::bigint, 'all data sources');
SELECT results_eq(format($$SELECT data_source, identifier, type, is_complete FROM sessions.current_sessions(include_complete => true) WHERE key = %L$$, :'k1'),
    $$VALUES ('DataSource', 'silverstone-gp-2024-r2', 'Session', true)$$, 'row columns');

-- Expiry: a LIVE session past valid_until never reads as live.
SELECT sessions.create_session('DataSource', creation_time => now() - interval '2 hours',
                               valid_until => now() - interval '1 hour') AS kx \gset
SELECT is(sessions.session_info(:'kx') ->> 'status', 'EXPIRED', 'past valid_until reads as EXPIRED before any expiry run');
SELECT is((sessions.session_info(:'kx') ->> 'termination_time')::timestamptz, now() - interval '1 hour',
          'termination_time = valid_until');
SELECT ok(NOT EXISTS (SELECT 1 FROM sessions.current_sessions() WHERE key = :'kx'), 'not listed as current');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, '{"a": "b"}')$$, :'kx'), '55000', NULL,
                 'an expired session no longer changes');
SELECT is(sessions.end_session(:'kx'), false, 'end_session on an expired session returns false');
SELECT results_eq(format($$SELECT status, ended_at FROM sessions.store WHERE session_key = %L$$, :'kx'),
    $$VALUES ('EXPIRED', now() - interval '1 hour')$$, 'the expiry was written on the way');
SELECT sessions.create_session('DataSource', creation_time => now() - interval '3 hours',
                               valid_until => now() - interval '1 minute') AS ky \gset
SELECT is(sessions.expire_sessions(), 1, 'expire_sessions ends the one due session');
SELECT results_eq(format($$SELECT status, ended_at FROM sessions.store WHERE session_key = %L$$, :'ky'),
    $$VALUES ('EXPIRED', now() - interval '1 minute')$$, 'expired with ended_at = valid_until');
SELECT is(sessions.expire_sessions(), 0, 'a second run finds nothing');
SELECT is(sessions.maintenance() -> 'expired', '0'::jsonb, 'maintenance() reports its expiry count');

-- Analytics per local day.
SELECT results_eq($$SELECT day, data_source, type, sessions_started, sessions_live, total_duration
                      FROM sessions.telemetry_daily('2024-07-01', '2024-08-01')$$,
    $$VALUES ('2024-07-07'::date, 'DataSource', 'Session', 1::bigint, 0::bigint, interval '2 hours 30 minutes'),
             ('2024-07-08'::date, 'Other', 'Lap', 1::bigint, 1::bigint, interval '0')$$,
    'days local to each session''s utc_offset (23:00 UTC at +02:00 is the next day)');
SELECT results_eq($$SELECT day, data_source FROM sessions.telemetry_daily('2024-07-01', '2024-08-01', 'America/New_York')$$,
    $$VALUES ('2024-07-07'::date, 'DataSource'), ('2024-07-07'::date, 'Other')$$, 'days local to a given zone');
SELECT throws_ok($$SELECT * FROM sessions.telemetry_daily(time_zone => 'Mars/Olympus')$$, '22023', NULL, 'unknown time zone');
SELECT sessions.create_session('West', utc_offset => '-05:00', creation_time => '2024-06-08 03:00+00') AS kw1 \gset
SELECT sessions.end_session(:'kw1', termination_time => '2024-06-08 04:00+00') AS ended_w1 \gset
SELECT sessions.create_session('West', creation_time => '2024-06-07 12:00+00') AS kw2 \gset
SELECT sessions.end_session(:'kw2', termination_time => '2024-06-07 12:30+00') AS ended_w2 \gset
SELECT results_eq($$SELECT day, sessions_started, sessions_live, total_duration FROM sessions.telemetry_daily('2024-06-01', '2024-07-01')$$,
    $$VALUES ('2024-06-07'::date, 2::bigint, 0::bigint, interval '1 hour 30 minutes')$$,
    'sessions of different offsets meet on their local day (03:00 UTC at -05:00 is the day before)');
SELECT results_eq($$SELECT day, sessions_started FROM sessions.telemetry_daily('2024-06-01', '2024-07-01', 'UTC')$$,
    $$VALUES ('2024-06-07'::date, 1::bigint), ('2024-06-08'::date, 1::bigint)$$, 'the same sessions by UTC day');

-- Metrics
SELECT matches(sessions.metrics(), 'sessions_total\{kind="telemetry",data_source="DataSource",state="expired"\} 2',
               'gauge by kind, data source and state');
SELECT matches(sessions.metrics(), '# TYPE sessions_expired_total counter\nsessions_expired_total\{kind="telemetry",data_source="DataSource"\} 2\n',
               'expired counter');
SELECT matches(sessions.metrics(), 'sessions_ended_total\{kind="telemetry",data_source="DataSource"\} 3\n', 'ended counter includes expired');
SELECT is((SELECT sum(sessions) FROM sessions.metric_samples() WHERE kind = 'telemetry'), 9::numeric, 'metric_samples counts every session');

-- Row-level security: a role mapped to one data source sees only it.
CREATE ROLE sa_tap_tel LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_tel', 'Other');
SET LOCAL ROLE sa_tap_tel;
SELECT is((SELECT count(*) FROM sessions.current_sessions(include_complete => true)), 1::bigint, 'mapped role sees its data source only');
SELECT throws_ok(format('SELECT sessions.session_info(%L)', :'kp'), 'P0002', NULL, 'another data source''s session is unknown');
SELECT throws_ok(format('SELECT sessions.end_session(%L)', :'kp'), 'P0002', NULL, 'and cannot be ended');
SELECT sessions.create_session('Other', identifier => 'by a writer') AS kw \gset
SELECT lives_ok(format($$SELECT sessions.update_session_details(%L, '{"a": "b"}')$$, :'kw'), 'a writer updates its own session');
SELECT lives_ok(format('SELECT sessions.add_associate_session(%L, %L)', :'kw', :'ko'), 'a writer links sessions of its data source');
SELECT is(sessions.end_session(:'kw', 'Other'), true, 'a writer ends its own session');
SELECT throws_ok($$SELECT sessions.create_session('DataSource')$$, '42501', NULL, 'a writer cannot create in an unmapped data source');
RESET ROLE;
CREATE ROLE sa_tap_tel_reader LOGIN IN ROLE session_analytics_reader;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_tel_reader', '*');
SET LOCAL ROLE sa_tap_tel_reader;
SELECT is(sessions.session_info(:'kp') ->> 'identifier', 'main_session', 'a reader reads session_info');
SELECT throws_ok($$SELECT sessions.create_session('DataSource')$$, '42501', NULL, 'a reader cannot create sessions');
SELECT throws_ok(format('SELECT sessions.end_session(%L)', :'kp'), '42501', NULL, 'a reader cannot end sessions');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
