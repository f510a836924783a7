-- Error messages echo at most 64 characters of a caller's value (plus "..."),
-- and list filters at the ends of the timestamp range are accepted: findings
-- of the fuzzer (test/fuzz/fuzz.py) in the lifecycle and telemetry modules.
BEGIN;
SELECT plan(9);

CREATE FUNCTION pg_temp.err(stmt text, part text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; d text;
BEGIN
    EXECUTE stmt;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN CASE part WHEN 'message' THEN m ELSE d END;
END
$$;

SELECT is(pg_temp.err($$SELECT sessions.open_session('online', '12 hours', repeat('x', 10000))$$, 'detail'),
          'Got ''' || repeat('x', 64) || '...''.', 'open_session: a bad reference is echoed cut to 64 characters');
SELECT is(pg_temp.err($$SELECT sessions.session_status(repeat('y', 5000))$$, 'message'),
          'session "' || repeat('y', 64) || '..." does not exist', 'session_status: an unknown reference is echoed cut');
SELECT is(pg_temp.err($$SELECT sessions.terminate_session(repeat('é', 300))$$, 'message'),
          'session "' || repeat('é', 64) || '..." does not exist', 'cut on a character boundary');
SELECT is(pg_temp.err($$SELECT sessions.create_session('ds', details => jsonb_build_object(repeat('k', 10000), 1))$$, 'message'),
          'details value for key "' || repeat('k', 64) || '..." must be a string, not number', 'create_session: a bad details key is echoed cut');
SELECT is(pg_temp.err($$SELECT * FROM sessions.telemetry_daily(NULL, time_zone => repeat('z', 500))$$, 'message'),
          'time zone "' || repeat('z', 64) || '..." is not recognized', 'telemetry_daily: an unknown zone is echoed cut');

SELECT sessions.open_session('online') FROM generate_series(1, 3);
SELECT is((SELECT pg_catalog.jsonb_array_length(items) FROM sessions.list_sessions('online', NULL, 'infinity')), 0,
          'list_sessions: created_from => infinity is an empty window, not an error');
SELECT is((SELECT pg_catalog.jsonb_array_length(items) FROM sessions.list_sessions('online', NULL, '-infinity', 'infinity')), 3,
          'list_sessions: -infinity .. infinity is every session');
SELECT is((SELECT pg_catalog.jsonb_array_length(items) FROM sessions.list_sessions('online', NULL, '294276-12-31 23:59:59+00')), 0,
          'list_sessions: the last representable instant as created_from');
SELECT is((SELECT pg_catalog.jsonb_array_length(p.items)
             FROM sessions.list_sessions('online', NULL, '-infinity', 'infinity', 1) f,
                  sessions.list_sessions('online', NULL, '-infinity', 'infinity', 1, f.continuation) p), 1,
          'paging with infinite bounds: the token of the first page reads the second');

SELECT * FROM finish();
ROLLBACK;
