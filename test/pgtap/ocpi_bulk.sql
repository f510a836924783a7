-- Bulk OCPI PUT (sessions.ocpi_put_many): schema and privileges, the new and
-- update paths, one status per document for every refusal, repeated ids,
-- COMPLETED -> ACTIVE, 2.3.0 charging preferences, an unmapped party, the
-- call-level errors, and that a refusal carries exactly the SQLSTATE, message
-- and detail (every problem) ocpi_put raises for the same document.
BEGIN;
SELECT plan(53);

CREATE FUNCTION pg_temp.s(patch jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT '{"country_code": "NL", "party_id": "TNM", "id": "B1", "start_date_time": "2024-03-01T10:00:00Z",
           "kwh": 1.5, "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID",
           "contract_id": "NL-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
           "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T10:05:00Z"}'::jsonb || patch $$;
-- The result of one call as "ordinality:session_id:sqlstate:status_code" lines.
CREATE FUNCTION pg_temp.run(docs jsonb[], v text DEFAULT '2.2.1') RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(concat_ws(':', r.ordinality, r.session_id, r.sqlstate, r.status_code), ' ' ORDER BY r.ordinality)
    FROM sessions.ocpi_put_many('nl', 'tnm', docs, v) r $$;
-- What ocpi_put raises for a document: "SQLSTATE message | detail" (rolled back).
CREATE FUNCTION pg_temp.put_error(doc jsonb, v text DEFAULT '2.2.1') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  PERFORM sessions.ocpi_put('NL', 'TNM', COALESCE(doc ->> 'id', 'X'), doc, v);
  RAISE EXCEPTION 'stored' USING ERRCODE = 'P0001', DETAIL = 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ' ' || SQLERRM || ' | ' || d;
END $$;
-- What ocpi_put_many reports for the same document, in the same form (a
-- stored document as put_error shows one).
CREATE FUNCTION pg_temp.bulk_error(doc jsonb, v text DEFAULT '2.2.1') RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN r.sqlstate = '00000' AND r.message IS NULL AND r.detail IS NULL THEN 'P0001 stored | no error'
              ELSE r.sqlstate || ' ' || r.message || ' | ' || r.detail END
    FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[doc], v) r $$;

-- Schema and privileges ------------------------------------------------------
SELECT has_function('sessions', 'ocpi_put_many', ARRAY['text', 'text', 'jsonb[]', 'text']);
SELECT isnt(obj_description('sessions.ocpi_put_many(text, text, jsonb[], text)'::regprocedure, 'pg_proc'), NULL, 'ocpi_put_many has a comment');
SELECT ok(has_function_privilege('session_analytics_writer', 'sessions.ocpi_put_many(text, text, jsonb[], text)', 'EXECUTE'), 'writer may bulk PUT');
SELECT ok(NOT has_function_privilege('session_analytics_reader', 'sessions.ocpi_put_many(text, text, jsonb[], text)', 'EXECUTE'), 'reader may not bulk PUT');
SELECT ok(NOT has_function_privilege('public', 'sessions.ocpi_put_many(text, text, jsonb[], text)', 'EXECUTE'), 'PUBLIC may not bulk PUT');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'sessions.ocpi_put_many(text, text, jsonb[], text)'::regprocedure),
          'ocpi_put_many is SECURITY INVOKER (row-level security applies)');

-- New and update paths ---------------------------------------------------------
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{}'), pg_temp.s('{"id": "b2", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z"}')]),
          '1:B1:00000:1000 2:b2:00000:1000', 'two new sessions: both stored (status 1000)');
SELECT is((SELECT count(*) FROM sessions.store WHERE kind = 'ocpi' AND namespace = 'NL-TNM'), 2::bigint, 'both rows are in the store');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'B2'), pg_temp.s('{"id": "b2", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z"}'),
          'the stored document is the one sent');
SELECT is((SELECT row(status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated)::text
             FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'B2'),
          row('COMPLETED', '2024-03-01 10:00+00'::timestamptz, '2024-03-01 11:00+00'::timestamptz, 1.5::float8,
              'NL-TST-C1', 'LOC1', 'E1', '1', '2024-03-01 10:05+00'::timestamptz)::text,
          'typed columns as ocpi_put extracts them');
-- the same typed columns as ocpi_put writes for the same document
SELECT isnt(sessions.ocpi_put('NL', 'TNM', 'P1', pg_temp.s('{"id": "P1", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z"}')), NULL,
          'ocpi_put of the same document as B2');
SELECT is((SELECT row(status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated)::text
             FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'P1'),
          (SELECT row(status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated)::text
             FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'B2'),
          'ocpi_put and ocpi_put_many store the same columns');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"kwh": 7}')]), '1:B1:00000:1000', 'update of a stored session: status 1000');
SELECT is((SELECT kwh FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'B1'), 7::float8, 'the update is stored');
SELECT is((SELECT count(*) FROM sessions.store WHERE kind = 'ocpi' AND namespace = 'NL-TNM'), 3::bigint, 'an update adds no row (B1, B2 and P1)');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "B3"}')], '2.3.0'), '1:B3:00000:1000', 'version 2.3.0 is accepted');
SELECT is((SELECT count(*) FROM sessions.ocpi_put_many('NL', 'TNM', '{}')), 0::bigint, 'an empty array: no rows, nothing stored');

-- Per-document refusals: each gets its own status, the others are stored ------
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "C1"}'), pg_temp.s('{"id": "C2", "kwh": -1}'), NULL,
                            pg_temp.s('{"id": "C4", "party_id": "XXX"}'), '[1]'::jsonb, pg_temp.s('{"id": "C6", "kwh": 1e400}'),
                            pg_temp.s('{"id": "C7", "last_updated": "yesterday"}'), pg_temp.s('{"id": "C8"}') - 'location_id',
                            pg_temp.s('{"id": "C9"}')]),
          '1:C1:00000:1000 2:C2:22003:2001 3:22004:2001 4:C4:22023:2001 5:22023:2001 6:C6:22003:2001 7:C7:22007:2001 8:C8:22004:2001 9:C9:00000:1000',
          'each invalid document gets its SQLSTATE and OCPI 2001; the valid ones around them get 1000');
SELECT is((SELECT string_agg(external_id, ',' ORDER BY external_id) FROM sessions.store
            WHERE namespace = 'NL-TNM' AND external_id LIKE 'C%'), 'C1,C9', 'only the valid documents are stored');
SELECT is((SELECT message FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[NULL::jsonb])),
          'invalid OCPI Session: element 1 of docs is NULL', 'a NULL element is named by its position');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "E1", "kwh": -1}')), pg_temp.put_error(pg_temp.s('{"id": "E1", "kwh": -1}')),
          'a field error: the SQLSTATE and message ocpi_put raises');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "E2", "country_code": "BE"}')), pg_temp.put_error(pg_temp.s('{"id": "E2", "country_code": "BE"}')),
          'a party mismatch: the SQLSTATE and message ocpi_put raises');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "E3", "kwh": 1e400}')), pg_temp.put_error(pg_temp.s('{"id": "E3", "kwh": 1e400}')),
          'a kWh beyond float8: the SQLSTATE and message ocpi_put raises');
SELECT is(pg_temp.bulk_error('"x"'), pg_temp.put_error('"x"'), 'not an object: the SQLSTATE and message ocpi_put raises');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "E4", "kwh": -1, "currency": 7, "party_id": "XXX"}') - 'location_id'),
          pg_temp.put_error(pg_temp.s('{"id": "E4", "kwh": -1, "currency": 7, "party_id": "XXX"}') - 'location_id'),
          'several problems: the message and the detail listing every problem, as ocpi_put raises them');
SELECT matches((SELECT detail FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[pg_temp.s('{"id": "E4", "kwh": -1, "currency": 7, "party_id": "XXX"}') - 'location_id'])),
               '^OCPI status code 2001 \(Invalid or missing parameters\)\. 4 problems: .*party_id.*kwh.*location_id.*currency', 'the detail counts and lists the four problems');
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id LIKE 'E%'), 0::bigint,
          'none of the refused documents is stored');
-- Every member of the document removed, made a number, made a string, made
-- an object: ocpi_put_many reports what ocpi_put raises (2.2.1 and 2.3.0).
CREATE TEMP TABLE mutants AS
SELECT v, d FROM (SELECT pg_temp.s('{"id": "MU"}') AS base) b, LATERAL jsonb_object_keys(b.base) k,
       LATERAL (VALUES (b.base - k), (b.base || jsonb_build_object(k, 7)), (b.base || jsonb_build_object(k, 'x')),
                       (b.base || jsonb_build_object(k, '{}'::jsonb))) m(d),
       (VALUES ('2.2.1'), ('2.3.0')) ver(v);
SELECT is((SELECT count(*) FROM mutants WHERE pg_temp.bulk_error(d, v) IS DISTINCT FROM pg_temp.put_error(d, v)), 0::bigint,
          'for every mutant the SQLSTATE, message and detail equal those ocpi_put raises');
SELECT cmp_ok((SELECT count(*) FROM mutants WHERE pg_temp.put_error(d, v) NOT LIKE 'P0001%'), '>', 80::bigint,
              'the mutants are mostly refused (the comparison is not vacuous)');

-- COMPLETED -> ACTIVE ------------------------------------------------------------
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "b2"}'), pg_temp.s('{"id": "D1"}')]), '1:b2:23514:2001 2:D1:00000:1000',
          'COMPLETED -> ACTIVE refused for that document only');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "B2"}')), pg_temp.put_error(pg_temp.s('{"id": "B2"}')),
          'the refusal: the SQLSTATE, message and detail ocpi_put raises');
SELECT is((SELECT status FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'B2'), 'COMPLETED',
          'the completed session is unchanged');
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'D1'), 1::bigint,
          'the other document of the call is stored');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "B2", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z", "kwh": 3}')]),
          '1:B2:00000:1000', 'COMPLETED -> COMPLETED is an update');

-- Repeated ids: the last document is stored ---------------------------------------
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "R1", "kwh": 1}'), pg_temp.s('{"id": "R2"}'), pg_temp.s('{"id": "r1", "kwh": 2}'),
                            pg_temp.s('{"id": "R1", "kwh": -3}')]),
          '1:R1:21000:2001 2:R2:00000:1000 3:r1:00000:1000 4:R1:22003:2001',
          'of documents sharing an id (case-insensitive) the last valid one is stored, the earlier ones get 21000');
SELECT is((SELECT message FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[pg_temp.s('{"id": "R3"}'), pg_temp.s('{"id": "R3"}')]) WHERE ordinality = 1),
          'session id repeated by element 2 of docs, which replaces this one', 'the superseded document names the one stored');
SELECT is((SELECT kwh FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'R1'), 2::float8,
          'the last valid document of the id is the one stored');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "R4", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z"}'), pg_temp.s('{"id": "R4"}')]),
          '1:R4:21000:2001 2:R4:00000:1000', 'a repeated id is stored as if only its last document had been sent');

-- 2.3.0 charging preferences: stored as ocpi_put stores them ------------------------
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "P10", "charging_preferences": {"profile_type": "FAST"}}'),
                            pg_temp.s('{"id": "P11", "charging_preferences": {"profile_type": "GREEN", "energy_need": 20}}'),
                            pg_temp.s('{"id": "P12", "status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z", "charging_preferences": {"profile_type": "GREEN"}}'),
                            pg_temp.s('{"id": "P13"}'),
                            pg_temp.s('{"id": "P14", "charging_preferences": {"profile_type": "FAST", "energy_need": -5}}')], '2.3.0'),
          '1:P10:00000:1000 2:P11:22023:2001 3:P12:00000:1000 4:P13:00000:1000 5:P14:22003:2001',
          '2.3.0: accepted preferences stored with their session, refused or invalid ones refuse that document only');
SELECT is((SELECT string_agg(s.external_id || '=' || (p.preferences ->> 'profile_type'), ',' ORDER BY s.external_id)
             FROM sessions.ocpi_charging_preferences p JOIN sessions.store s USING (session_key, namespace)
            WHERE s.namespace = 'NL-TNM' AND s.external_id LIKE 'P1_'), 'P10=FAST',
          'the preferences of the active session are stored; the finished one keeps them in doc only');
SELECT is((SELECT string_agg(external_id, ',' ORDER BY external_id) FROM sessions.store
            WHERE namespace = 'NL-TNM' AND external_id LIKE 'P1_'), 'P10,P12,P13',
          'the session whose preferences are refused is not stored, the others are');
SELECT is(pg_temp.bulk_error(pg_temp.s('{"id": "P11", "charging_preferences": {"profile_type": "GREEN", "energy_need": 20}}'), '2.3.0'),
          pg_temp.put_error(pg_temp.s('{"id": "P11", "charging_preferences": {"profile_type": "GREEN", "energy_need": 20}}'), '2.3.0'),
          'refused preferences: the SQLSTATE, message and detail ocpi_put raises');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "P10", "charging_preferences": {"profile_type": "REGULAR"}}'),
                            pg_temp.s('{"id": "P13", "kwh": 9}')], '2.3.0'),
          '1:P10:00000:1000 2:P13:00000:1000', 'an update with preferences beside one without');
SELECT is((SELECT p.preferences ->> 'profile_type' FROM sessions.ocpi_charging_preferences p JOIN sessions.store s USING (session_key, namespace)
            WHERE s.namespace = 'NL-TNM' AND s.external_id = 'P10'), 'REGULAR', 'the new preferences replace the stored ones');

-- A party the role is not mapped to: refused for the whole call, as ocpi_put ------
CREATE ROLE sa_tap_bulk_nl LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_bulk_nl', 'NL-TNM');
SET LOCAL ROLE sa_tap_bulk_nl;
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('DE', 'BBB', ARRAY['"not even a Session"'::jsonb])$$, '42501',
                 'OCPI party country_code "DE", party_id "BBB" is not mapped to role "sa_tap_bulk_nl"',
                 'an unmapped party: 42501 before any document is validated');
SELECT is(pg_temp.run(ARRAY[pg_temp.s('{"id": "M1"}')]), '1:M1:00000:1000', 'the mapped party is written by the same role');
RESET ROLE;

-- Call-level errors: raised, nothing stored -----------------------------------------
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many(NULL, 'TNM', ARRAY[pg_temp.s('{"id": "Z1"}')])$$, '22004',
                 'argument country_code of ocpi_put_many must not be NULL', 'NULL country_code');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('NL', NULL, ARRAY[pg_temp.s('{"id": "Z1"}')])$$, '22004',
                 'argument party_id of ocpi_put_many must not be NULL', 'NULL party_id');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('NL', 'TNM', NULL)$$, '22004',
                 'argument docs of ocpi_put_many must not be NULL', 'NULL docs');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[pg_temp.s('{"id": "Z1"}')], NULL)$$, '22004',
                 'argument version of ocpi_put_many must not be NULL', 'NULL version');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[pg_temp.s('{"id": "Z1"}')], '2.1.1')$$, '22023',
                 'unsupported OCPI version "2.1.1"', 'unsupported version');
SELECT throws_ok($$SELECT * FROM sessions.ocpi_put_many('NL', 'TNM', ARRAY[ARRAY[pg_temp.s('{"id": "Z1"}')]])$$, '2202E',
                 'argument docs of ocpi_put_many must be a one-dimensional array', 'a two-dimensional array');
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'Z1'), 0::bigint,
          'nothing stored by the refused calls');

SELECT * FROM finish();
ROLLBACK;
