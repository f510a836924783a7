-- OCPI Sessions API: schema, privileges, row-level security through the API
-- functions, and every refusal with its SQLSTATE.
BEGIN;
SELECT plan(68);

CREATE TABLE public.tap_ex (name text PRIMARY KEY, doc jsonb);
INSERT INTO public.tap_ex VALUES
  ('s', '{"country_code": "NL", "party_id": "TNM", "id": "abc-1", "start_date_time": "2024-03-01T10:00:00Z",
          "kwh": 1.5, "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID",
          "contract_id": "NL-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
          "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T10:05:00Z"}'),
  ('be', '{"country_code": "BE", "party_id": "BEC", "id": "be-1", "start_date_time": "2024-03-01T11:00:00Z",
          "kwh": 2, "cdr_token": {"country_code": "BE", "party_id": "TST", "uid": "U2", "type": "APP_USER",
          "contract_id": "BE-TST-C2"}, "auth_method": "COMMAND", "location_id": "LOC2", "evse_uid": "E2",
          "connector_id": "2", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T11:05:00Z"}');
CREATE FUNCTION public.tap_s(patch jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT (SELECT doc FROM public.tap_ex WHERE name = 's') || patch $$;
CREATE FUNCTION public.tap_put(doc jsonb, v text DEFAULT '2.2.1') RETURNS jsonb LANGUAGE sql AS
  $$ SELECT sessions.ocpi_put(doc ->> 'country_code', doc ->> 'party_id', doc ->> 'id', doc, v) $$;
GRANT SELECT ON public.tap_ex TO PUBLIC;

-- Schema and privileges ------------------------------------------------------
SELECT has_function('sessions', 'ocpi_put', ARRAY['text', 'text', 'text', 'jsonb', 'text']);
SELECT has_function('sessions', 'ocpi_patch', ARRAY['text', 'text', 'text', 'jsonb']);
SELECT has_function('sessions', 'ocpi_get', ARRAY['text', 'text', 'text', 'boolean']);
SELECT has_function('sessions', 'ocpi_list', ARRAY['timestamp with time zone', 'timestamp with time zone', 'integer', 'integer', 'text', 'text']);
SELECT has_function('sessions', 'ocpi_put_charging_preferences', ARRAY['text', 'text', 'text', 'jsonb']);
SELECT function_returns('sessions', 'ocpi_put_charging_preferences', ARRAY['text', 'text', 'text', 'jsonb'], 'text');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'sessions'::regnamespace
            AND p.proname LIKE 'ocpi%' AND obj_description(p.oid, 'pg_proc') IS NULL), 0::bigint,
          'every OCPI function has a comment');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'sessions'::regnamespace
            AND p.proname LIKE 'ocpi%' AND p.prosecdef), 0::bigint, 'every OCPI function is SECURITY INVOKER');
SELECT ok(has_function_privilege('session_analytics_writer', 'sessions.ocpi_put(text, text, text, jsonb, text)', 'EXECUTE'), 'writer may PUT');
SELECT ok(has_function_privilege('session_analytics_writer', 'sessions.ocpi_patch(text, text, text, jsonb)', 'EXECUTE'), 'writer may PATCH');
SELECT ok(has_function_privilege('session_analytics_writer', 'sessions.ocpi_put_charging_preferences(text, text, text, jsonb)', 'EXECUTE'), 'writer may put charging preferences');
SELECT ok(has_function_privilege('session_analytics_reader', 'sessions.ocpi_get(text, text, text, boolean)', 'EXECUTE'), 'reader may GET');
SELECT ok(has_function_privilege('session_analytics_reader', 'sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text)', 'EXECUTE'), 'reader may list');
SELECT ok(NOT has_function_privilege('session_analytics_reader', 'sessions.ocpi_put(text, text, text, jsonb, text)', 'EXECUTE'), 'reader may not PUT');
SELECT ok(NOT has_function_privilege('public', 'sessions.ocpi_patch(text, text, text, jsonb)', 'EXECUTE'), 'PUBLIC may not PATCH');
SELECT ok(NOT has_function_privilege('public', 'sessions.ocpi_get(text, text, text, boolean)', 'EXECUTE'), 'PUBLIC may not GET');
SELECT table_privs_are('sessions', 'ocpi_charging_preferences', 'session_analytics_writer', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
SELECT table_privs_are('sessions', 'ocpi_charging_preferences', 'public', ARRAY[]::text[]);
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'sessions.ocpi_charging_preferences'::regclass), 'RLS on charging preferences');
SELECT ok((SELECT 'sessions.ocpi_charging_preferences'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'session_analytics'),
          'charging preferences are dumped by pg_dump');

-- Happy paths ----------------------------------------------------------------
SELECT is(public.tap_put(public.tap_s('{}')), public.tap_s('{}'), 'PUT returns the object');
SELECT is(sessions.ocpi_get('nl', 'tnm', 'ABC-1'), public.tap_s('{}'), 'GET with other-case keys returns it');
SELECT is((SELECT (namespace, external_id, status, kwh, user_ref)::text FROM sessions.store WHERE kind = 'ocpi'),
          '(NL-TNM,ABC-1,ACTIVE,1.5,NL-TST-C1)', 'typed columns follow the OCPI convention');
SELECT is(sessions.ocpi_patch('NL', 'TNM', 'abc-1', '{"kwh": 3, "last_updated": "2024-03-01T10:10:00Z"}') -> 'kwh',
          '3'::jsonb, 'PATCH replaces kwh');
SELECT is((SELECT total_count FROM sessions.ocpi_list('2024-03-01')), 1::bigint, 'list finds it');
SELECT is(sessions.ocpi_put_charging_preferences('NL', 'TNM', 'abc-1', '{"profile_type": "REGULAR"}'), 'ACCEPTED', 'preferences accepted');
SELECT ok(sessions.ocpi_validate(public.tap_s('{}')), 'ocpi_validate is true for a valid Session');
SELECT ok(sessions.ocpi_validate_charging_preferences('{"profile_type": "FAST"}'), 'valid preferences');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'nope'), NULL, 'unknown session: NULL');

-- Refusals: SQLSTATE per kind of problem ----------------------------------------
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"bogus": 1}'))$$, '22023', NULL, 'unknown field in 2.2.1: 22023');
SELECT lives_ok($$SELECT public.tap_put(public.tap_s('{"bogus": 1}'), '2.3.0')$$, 'unknown field in 2.3.0 accepted');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'abc-1') -> 'bogus', '1'::jsonb, '... and kept');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"status": "DONE"}'))$$, '22023', NULL, 'bad enum: 22023');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"kwh": "1"}'))$$, '22023', NULL, 'wrong JSON type: 22023');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"cdr_token": []}'))$$, '22023', NULL, 'array for object: 22023');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"charging_periods": [1]}'))$$, '22023', NULL, 'scalar period: 22023');
SELECT throws_ok($$SELECT sessions.ocpi_put('NL', 'TNM', 'other', public.tap_s('{}'))$$, '22023', NULL, 'URL key mismatch: 22023');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{}'), '3.0')$$, '22023', 'unsupported OCPI version "3.0"', 'unsupported version: 22023');
SELECT throws_ok($$SELECT sessions.ocpi_put('NL', 'TNM', 'x', '[]')$$, '22023', NULL, 'not an object: 22023');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{}') - 'currency')$$, '22004', NULL, 'missing required field: 22004');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"location_id": null}'))$$, '22004', NULL, 'null required field: 22004');
SELECT throws_ok($$SELECT sessions.ocpi_put(NULL, 'TNM', 'abc-1', public.tap_s('{}'))$$, '22004', NULL, 'NULL argument: 22004');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s(jsonb_build_object('meter_id', repeat('m', 256))))$$, '22001', NULL, 'too long: 22001');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"evse_uid": "E\t1"}'))$$, '22021', NULL, 'control character: 22021');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"last_updated": "2024-13-01T00:00:00Z"}'))$$, '22007', NULL, 'bad DateTime: 22007');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"kwh": -1}'))$$, '22003', NULL, 'negative kwh: 22003');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"kwh": 1e400}'))$$, '22003', 'invalid OCPI 2.2.1 Session: kwh is out of range', 'kwh beyond float8: 22003');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"charging_periods": [{"start_date_time": "2024-03-01T10:00:00Z",
                    "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 101}]}]}'))$$, '22003', NULL, 'state of charge over 100: 22003');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"end_date_time": "2024-03-01T09:00:00Z"}'))$$, '23514', NULL, 'end before start: 23514');
SELECT lives_ok($$SELECT public.tap_put(public.tap_s('{"status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z"}'))$$, 'session completed');
SELECT throws_ok($$SELECT public.tap_put(public.tap_s('{"status": "ACTIVE"}'))$$, '23514',
                 'invalid OCPI Session: status cannot change from COMPLETED back to ACTIVE', 'PUT COMPLETED -> ACTIVE: 23514');
SELECT throws_ok($$SELECT sessions.ocpi_patch('NL', 'TNM', 'abc-1', '{"status": "ACTIVE", "last_updated": "2024-03-01T12:00:00Z"}')$$,
                 '23514', NULL, 'PATCH COMPLETED -> ACTIVE: 23514');
SELECT throws_ok($$SELECT sessions.ocpi_patch('NL', 'TNM', 'abc-1', '{"kwh": 2}')$$, '22004', NULL, 'PATCH without last_updated: 22004');
SELECT throws_ok($$SELECT sessions.ocpi_patch('NL', 'TNM', 'abc-1', '[]')$$, '22023', NULL, 'PATCH not an object: 22023');
SELECT throws_ok($$SELECT sessions.ocpi_patch('NL', 'TNM', 'abc-1', '{"charging_periods": 1, "last_updated": "2024-03-01T12:00:00Z"}')$$,
                 '22023', NULL, 'PATCH periods not an array: 22023');
SELECT throws_ok($$SELECT sessions.ocpi_patch('NL', 'TNM', 'zzz', '{"last_updated": "2024-03-01T12:00:00Z"}')$$,
                 'P0002', 'OCPI session NL/TNM/zzz not found', 'PATCH unknown session: P0002');
SELECT throws_ok($$SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'zzz', '{"profile_type": "FAST"}')$$,
                 'P0002', NULL, 'preferences for an unknown session: P0002');
SELECT throws_ok($$SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'abc-1', '{"profile_type": "FAST", "energy_need": "a"}')$$,
                 '22023', NULL, 'malformed preferences: 22023');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_list(NULL, NULL, 0, -5)$$, '22023', NULL, 'negative limit: 22023');
SELECT is((SELECT doc ->> 'status' FROM sessions.store WHERE external_id = 'ABC-1'), 'COMPLETED', 'refused calls changed nothing');

-- Row-level security through the API ------------------------------------------
CREATE ROLE sa_tap_ocpi_nl LOGIN IN ROLE session_analytics_writer;
CREATE ROLE sa_tap_ocpi_be LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_ocpi_nl', 'NL-TNM'), ('sa_tap_ocpi_be', 'BE-BEC');
SELECT lives_ok($$SELECT public.tap_put((SELECT doc FROM public.tap_ex WHERE name = 'be'))$$, 'BE session stored by the owner');
SET LOCAL ROLE sa_tap_ocpi_nl;
SELECT is(sessions.ocpi_get('BE', 'BEC', 'be-1'), NULL, 'NL party cannot GET a BE session');
SELECT is((SELECT total_count FROM sessions.ocpi_list(NULL)), 1::bigint, 'NL party lists only its own sessions');
SELECT throws_ok($$SELECT public.tap_put((SELECT doc FROM public.tap_ex WHERE name = 'be'))$$, '42501', NULL, 'NL party cannot PUT over a BE session');
SELECT throws_ok($$SELECT sessions.ocpi_patch('BE', 'BEC', 'be-1', '{"kwh": 9, "last_updated": "2024-03-01T12:00:00Z"}')$$,
                 'P0002', NULL, 'NL party cannot PATCH a BE session (not found)');
SELECT throws_ok($$SELECT sessions.ocpi_put_charging_preferences('BE', 'BEC', 'be-1', '{"profile_type": "FAST"}')$$,
                 'P0002', NULL, 'NL party cannot set preferences of a BE session');
SELECT throws_ok($$SELECT public.tap_put(jsonb_set((SELECT doc FROM public.tap_ex WHERE name = 'be'), '{id}', '"be-2"'))$$,
                 '42501', NULL, 'NL party cannot create a BE session');
RESET ROLE;
SET LOCAL ROLE sa_tap_ocpi_be;
SELECT is(sessions.ocpi_patch('BE', 'BEC', 'be-1', '{"kwh": 9, "last_updated": "2024-03-01T12:00:00Z"}') -> 'kwh', '9'::jsonb,
          'BE party patches its own session');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
