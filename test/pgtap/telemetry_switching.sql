-- Telemetry calls in a Stream API user's terms (issue 12): keys as text,
-- utc_offset as integer seconds, create-and-read in one statement. Each
-- case failed with PostgreSQL's own error before (invalid input syntax for
-- type uuid, function ... does not exist, "does not exist" from a STABLE read).
BEGIN;
SELECT plan(77);

-- pg_temp.resolves(call): the sessions function a call resolves to, read
-- from the dependencies of a function whose body is the call (parsed, not run).
CREATE FUNCTION pg_temp.resolves(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    f text;
    probe oid;
BEGIN
    EXECUTE format('CREATE FUNCTION pg_temp.probe() RETURNS void LANGUAGE sql BEGIN ATOMIC SELECT %s; END', call);
    -- Looked up by name each time: a cast constant would be planned once.
    SELECT p.oid INTO probe FROM pg_proc p WHERE p.proname = 'probe' AND p.pronamespace = pg_my_temp_schema();
    SELECT string_agg(d.refobjid::regprocedure::text, ', ' ORDER BY 1) INTO f
      FROM pg_depend d JOIN pg_proc p ON p.oid = d.refobjid
     WHERE d.classid = 'pg_proc'::regclass AND d.objid = probe
       AND d.refclassid = 'pg_proc'::regclass AND p.pronamespace = 'sessions'::regnamespace;
    DROP FUNCTION pg_temp.probe();
    RETURN f;
END $$;
-- pg_temp.error_of(sql): 'SQLSTATE|message|detail|hint' of the error sql raises.
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hin text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    RETURN concat_ws('|', st, msg, det, hin);
END $$;

SELECT has_function('sessions', 'update_session_details', ARRAY['text', 'jsonb']);
SELECT has_function('sessions', 'update_session_identifier', ARRAY['text', 'text']);
SELECT has_function('sessions', 'add_associate_session', ARRAY['text', 'text']);
SELECT has_function('sessions', 'end_session', ARRAY['text', 'text', 'timestamp with time zone']);
SELECT has_function('sessions', 'session_info', ARRAY['text']);
SELECT has_function('sessions', 'associates', ARRAY['text']);
SELECT has_function('sessions', 'parents', ARRAY['text']);
SELECT has_function('sessions', 'create_session',
    ARRAY['character varying', 'text', 'integer', 'sessions.utc_offset', 'text', 'jsonb', 'uuid[]', 'timestamp with time zone', 'timestamp with time zone']);

-- Keys as text ------------------------------------------------------------------
SELECT sessions.create_session('DataSource', identifier => 'silverstone-gp-2024') AS k \gset
SELECT sessions.create_session('DataSource', identifier => 'associate') AS ka \gset

-- Which function a call reaches: a literal goes to the text form, a uuid
-- value still to the uuid function.
SELECT is(pg_temp.resolves($$sessions.update_session_details('race-session-2024-001', '{}')$$),
          'sessions.update_session_details(text,jsonb)', 'a literal key resolves to the text form');
SELECT is(pg_temp.resolves($$sessions.update_session_details(gen_random_uuid(), '{}')$$),
          'sessions.update_session_details(uuid,jsonb)', 'a uuid value resolves to the uuid function');
SELECT is(pg_temp.resolves($$sessions.update_session_details('0b7c3e4e-6a4f-4f4e-9c1e-2f3d4b5a6c7d'::uuid, '{}')$$),
          'sessions.update_session_details(uuid,jsonb)', 'a typed uuid literal resolves to the uuid function');
SELECT is(pg_temp.resolves($$sessions.end_session('k', 'DataSource')$$),
          'sessions.end_session(text,text,timestamp with time zone)', 'end_session with a literal key: the text form');
SELECT is(pg_temp.resolves($$sessions.end_session(gen_random_uuid())$$),
          'sessions.end_session(uuid,text,timestamp with time zone)', 'end_session with a uuid: the uuid function');
SELECT is(pg_temp.resolves($$sessions.add_associate_session(gen_random_uuid(), gen_random_uuid())$$),
          'sessions.add_associate_session(uuid,uuid)', 'add_associate_session with uuids: the uuid function');
SELECT is(pg_temp.resolves($$sessions.session_info('k')$$), 'sessions.session_info(text)', 'session_info with a literal: the text form');
SELECT is(pg_temp.resolves($$sessions.session_info(gen_random_uuid())$$), 'sessions.session_info(uuid)', 'session_info with a uuid: the uuid function');
PREPARE by_param AS SELECT sessions.session_info($1);
SELECT is((SELECT parameter_types FROM pg_prepared_statements WHERE name = 'by_param'), '{text}'::regtype[],
          'an untyped parameter resolves to the text form');
DEALLOCATE by_param;

-- The Stream API's own call, in its terms: a clear error, not uuid input syntax.
SELECT is(pg_temp.error_of($$SELECT sessions.update_session_details('race-session-2024-001', '{"status": "active"}')$$),
          '22P02|session_key "race-session-2024-001" is not a UUID|A session key is a UUID such as 0b7c3e4e-6a4f-4f4e-9c1e-2f3d4b5a6c7d.|'
          'Pass the key sessions.create_session() returned; a name such as this belongs in identifier (sessions.current_sessions() lists keys with their identifiers).',
          'update_session_details with a name as key: 22P02 naming session_key, the accepted form and where keys come from');
SELECT throws_ok($$SELECT sessions.update_session_identifier('race-session-2024-001', 'x')$$, '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'update_session_identifier: 22P02 naming session_key');
SELECT throws_ok(format($$SELECT sessions.add_associate_session('race-session-2024-001', %L)$$, :'ka'), '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'add_associate_session: a bad session_key is named');
SELECT throws_ok(format($$SELECT sessions.add_associate_session(%L, 'race-session-2024-002')$$, :'k'), '22P02',
                 'associate_key "race-session-2024-002" is not a UUID', 'add_associate_session: a bad associate_key is named');
SELECT throws_ok($$SELECT sessions.end_session('race-session-2024-001', 'DataSource')$$, '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'end_session: 22P02 naming session_key');
SELECT throws_ok($$SELECT sessions.session_info('race-session-2024-001')$$, '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'session_info: 22P02 naming session_key');
SELECT throws_ok($$SELECT * FROM sessions.associates('race-session-2024-001')$$, '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'associates: 22P02 naming session_key');
SELECT throws_ok($$SELECT * FROM sessions.parents('race-session-2024-001')$$, '22P02',
                 'session_key "race-session-2024-001" is not a UUID', 'parents: 22P02 naming session_key');
SELECT throws_ok(format($$SELECT sessions.session_info(%L)$$, repeat('x', 100)), '22P02',
                 format('session_key "%s..." is not a UUID', repeat('x', 64)), 'a long value is cut to 64 characters');
SELECT throws_ok($$SELECT sessions.session_info('')$$, '22P02', 'session_key "" is not a UUID', 'an empty key');
SELECT throws_ok($$SELECT sessions.update_session_details(NULL, '{}')$$, '22004', 'session_key must not be NULL',
                 'NULL through the text form: the uuid function''s own 22004');
SELECT throws_ok($$SELECT sessions.session_info('0b7c3e4e-6a4f-4f4e-9c1e-2f3d4b5a6c7d')$$, 'P0002', NULL,
                 'a well-formed unknown key: P0002 as before');

-- The text forms do what the uuid functions do, for every form uuid input accepts.
SELECT lives_ok(format($$SELECT sessions.update_session_details(%L, '{"lap_count": "15"}')$$, :'k'), 'update_session_details by text key');
SELECT is(sessions.session_info(:'k'::text) -> 'details', '{"lap_count": "15"}', 'details merged through the text form');
SELECT is(sessions.session_info(upper(:'k')) ->> 'session_key', :'k', 'upper-case key');
SELECT is(sessions.session_info(replace(:'k', '-', '')) ->> 'session_key', :'k', 'key without hyphens');
SELECT is(sessions.session_info('{' || :'k' || '}') ->> 'session_key', :'k', 'key in braces');
SELECT throws_ok(format($$SELECT sessions.session_info(%L)$$, '{' || :'k'), '22P02', NULL, 'an unclosed brace is refused');
SELECT throws_ok(format($$SELECT sessions.session_info(%L)$$, :'k' || '-'), '22P02', NULL, 'a trailing hyphen is refused');
SELECT throws_ok(format($$SELECT sessions.session_info(%L)$$, ' ' || :'k'), '22P02', NULL, 'leading white space is refused');
SELECT lives_ok(format($$SELECT sessions.update_session_identifier(%L, 'renamed')$$, :'k'), 'update_session_identifier by text key');
SELECT is(sessions.session_info(:'k'::text) ->> 'identifier', 'renamed', 'identifier set through the text form');
SELECT lives_ok(format($$SELECT sessions.add_associate_session(%L, %L)$$, :'k', :'ka'), 'add_associate_session by text keys');
SELECT is(ARRAY(SELECT sessions.associates(:'k'::text)), ARRAY[:'ka'::uuid], 'associates by text key');
SELECT is(ARRAY(SELECT sessions.parents(:'ka'::text)), ARRAY[:'k'::uuid], 'parents by text key');
SELECT throws_ok(format($$SELECT sessions.end_session(%L, 'Elsewhere')$$, :'k'), '22023', NULL,
                 'end_session by text key keeps the data_source check');
SELECT is(sessions.end_session(:'k'::text, 'DataSource'), true, 'end_session by text key ends the session');
SELECT is(sessions.end_session(:'k'::text), false, 'and again: already ended');

-- Integer seconds as utc_offset -------------------------------------------------
-- The Stream API's call: DataSource, Type, Version, UtcOffset = Duration { Seconds = 0 }, Identifier, Details.
SELECT sessions.create_session('DataSource', 'Session', 1, 0, 'silverstone-gp-2024',
    '{"track": "Silverstone Circuit", "weather": "dry"}') AS k0 \gset
SELECT is(sessions.session_info(:'k0'::uuid) ->> 'utc_offset', '00:00:00', 'positional integer 0: UTC');
SELECT is(sessions.session_info(sessions.create_session('DataSource', 'Session', 1, 3600)) ->> 'utc_offset', '01:00:00',
          'positional integer 3600: +01:00');
SELECT is(sessions.session_info(sessions.create_session('DataSource', utc_offset => -18000)) ->> 'utc_offset', '-05:00:00',
          'named integer -18000 without type and version: -05:00');
SELECT is(sessions.session_info(sessions.create_session(data_source => 'DataSource', type => 'Session', version => 1,
              utc_offset => 19800, identifier => 'x')) ->> 'utc_offset', '05:30:00', 'all named, integer 19800: +05:30');
SELECT is(sessions.session_info(sessions.create_session('DataSource', utc_offset => 7200::smallint)) ->> 'utc_offset', '02:00:00',
          'a smallint (drivers send small integers so)');
SELECT is(sessions.session_info(sessions.create_session('DataSource', utc_offset => 7200::bigint)) ->> 'utc_offset', '02:00:00',
          'a bigint');
SELECT sessions.create_session('DataSource', utc_offset => 3600) AS k3600 \gset
SELECT is((SELECT doc -> 'utc_offset' FROM sessions.store WHERE session_key = :'k3600'),
          '3600'::jsonb, 'stored as seconds, as the interval form stores it');
SELECT is(pg_temp.error_of($$SELECT sessions.create_session('DataSource', utc_offset => 86400)$$),
          '22023|utc_offset must be between -14:00 and +14:00|Got 86400 seconds; an integer utc_offset counts seconds (-50400 to 50400).|',
          'an integer out of range: 22023 naming utc_offset and the accepted range');
SELECT throws_ok($$SELECT sessions.create_session('DataSource', utc_offset => 10000000000000)$$, '22023',
                 'utc_offset must be between -14:00 and +14:00', 'a bigint beyond any interval: the same 22023');
SELECT throws_ok($$SELECT sessions.create_session('DataSource', utc_offset => -50401)$$, '22023', NULL, 'one second below -14:00');
SELECT lives_ok($$SELECT sessions.create_session('DataSource', utc_offset => 50400)$$, '+14:00 exactly');
SELECT throws_ok($$SELECT sessions.create_session('', 'Session', 1, 0)$$, '22023', 'data_source must not be empty',
                 'the integer form keeps every other check');

-- Calls that worked before resolve as before (no ambiguity, same function).
SELECT is(pg_temp.resolves($$sessions.create_session('DataSource')$$),
          'sessions.create_session(text,text,integer,interval,text,jsonb,uuid[],timestamp with time zone,timestamp with time zone)',
          'no utc_offset: the interval signature');
SELECT is(pg_temp.resolves($$sessions.create_session('DataSource', 'Session', 1, '0', 'x', '{}')$$),
          'sessions.create_session(text,text,integer,interval,text,jsonb,uuid[],timestamp with time zone,timestamp with time zone)',
          'the documented literal ''0'': the interval signature');
SELECT is(pg_temp.resolves($$sessions.create_session('DataSource', utc_offset => '02:00')$$),
          'sessions.create_session(text,text,integer,interval,text,jsonb,uuid[],timestamp with time zone,timestamp with time zone)',
          'a named literal: the interval signature');
SELECT is(pg_temp.resolves($$sessions.create_session('DataSource', utc_offset => interval '2 hours')$$),
          'sessions.create_session(text,text,integer,interval,text,jsonb,uuid[],timestamp with time zone,timestamp with time zone)',
          'an interval value: the interval signature');
SELECT is(pg_temp.resolves($$sessions.create_session('DataSource', 'Session', 1, 0)$$),
          'sessions.create_session(character varying,text,integer,sessions.utc_offset,text,jsonb,uuid[],timestamp with time zone,timestamp with time zone), sessions.utc_offset(integer)',
          'an integer: the second signature, through the implicit cast from integer');
PREPARE all_untyped AS SELECT sessions.create_session($1, $2, $3, $4, $5, $6);
SELECT is((SELECT parameter_types FROM pg_prepared_statements WHERE name = 'all_untyped'),
          '{text,text,integer,interval,text,jsonb}'::regtype[], 'untyped parameters (e.g. node-postgres): the interval signature');
SELECT is(sessions.session_info(k) ->> 'utc_offset', '02:00:00', 'an untyped ''7200'' reads as seconds, as interval input does')
  FROM (SELECT sessions.create_session('DataSource', 'Session', '1', '7200', 'x', '{}') AS k) s;
DEALLOCATE all_untyped;
SELECT is(sessions.session_info(sessions.create_session('DataSource'::varchar, 'Session', 1, '02:00')) ->> 'utc_offset', '02:00:00',
          'a varchar data_source with an interval literal (second signature, interval input)');
SELECT is(sessions.session_info(sessions.create_session('DataSource'::varchar)) ->> 'utc_offset', '00:00:00',
          'a varchar data_source alone: default offset');
SELECT is(sessions.session_info(sessions.create_session('DataSource', 'Session', 1, '-03:30')) ->> 'utc_offset', '-03:30:00',
          'an interval literal keeps working');

-- Create and read in one statement ---------------------------------------------
SELECT is(sessions.session_info(sessions.create_session('DataSource', identifier => 'one-statement')) ->> 'identifier', 'one-statement',
          'session_info(create_session(...)) finds the new session');
SELECT is(sessions.session_info(sessions.create_session('DataSource')::text) ->> 'status', 'LIVE', 'and through the text form');
SELECT is((SELECT count(*) FROM sessions.associates(sessions.create_session('DataSource',
               associate_keys => ARRAY[sessions.create_session('DataSource'), sessions.create_session('DataSource')]))),
          2::bigint, 'associates(create_session(... associate_keys ...)) lists the new links');
SELECT is(ARRAY(SELECT p.provolatile::text FROM pg_proc p
                 WHERE p.oid IN ('sessions.session_info(uuid)'::regprocedure, 'sessions.associates(uuid)'::regprocedure,
                                 'sessions.parents(uuid)'::regprocedure, 'sessions.session_info(text)'::regprocedure,
                                 'sessions.associates(text)'::regprocedure, 'sessions.parents(text)'::regprocedure)),
          ARRAY['v', 'v', 'v', 'v', 'v', 'v'], 'reads by key are VOLATILE (a fresh snapshot per call)');

-- Privileges: the text forms follow the functions they mirror.
CREATE ROLE sa_tap_sw_writer LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_sw_writer', 'DataSource');
CREATE ROLE sa_tap_sw_reader LOGIN IN ROLE session_analytics_reader;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_sw_reader', 'DataSource');
SET LOCAL ROLE sa_tap_sw_writer;
SELECT is(sessions.session_info(sessions.create_session('DataSource', 'Session', 1, 3600)) ->> 'utc_offset', '01:00:00',
          'a writer creates with integer seconds');
SELECT is(sessions.session_info(sessions.create_session('DataSource', utc_offset => 60::smallint)::text) ->> 'utc_offset', '00:01:00',
          'a writer creates with a smallint and reads by text key');
SELECT lives_ok(format($$SELECT sessions.update_session_details(%L, '{"a": "b"}')$$, :'ka'), 'a writer updates by text key');
RESET ROLE;
SET LOCAL ROLE sa_tap_sw_reader;
SELECT is(sessions.session_info(:'ka'::text) -> 'details', '{"a": "b"}', 'a reader reads by text key');
SELECT throws_ok(format($$SELECT sessions.update_session_details(%L, '{"a": "c"}')$$, :'ka'), '42501', NULL,
                 'a reader cannot update by text key');
SELECT throws_ok($$SELECT sessions.create_session('DataSource', 'Session', 1, 0)$$, '42501', NULL,
                 'a reader cannot create with integer seconds');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
