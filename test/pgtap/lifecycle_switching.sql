-- Invoice-style calls in a ksef2 user's terms (issue 12): a list with no
-- argument, and open-and-read in one statement. Each failed before with
-- "function ... does not exist" or a "does not exist" from a STABLE read.
BEGIN;
SELECT plan(22);

-- Open and read in one statement ---------------------------------------------------
SELECT is(sessions.session_status(sessions.open_session('online')) -> 'status' ->> 'name', 'OPEN',
          'session_status(open_session(''online'')) finds the new session');
SELECT is(sessions.session_status(sessions.open_session('batch', reference => 'one-statement-1')) ->> 'reference', 'one-statement-1',
          'with a given reference too');
SELECT is(sessions.session_state(sessions.open_session('batch')) ->> 'type', 'batch',
          'session_state(open_session(''batch'')) signs the new session');
SELECT is(sessions.resume_session(sessions.session_state(sessions.open_session('online'))) -> 'status' ->> 'code', '100',
          'resume_session(session_state(open_session(...))) in one statement');
SELECT is(sessions.set_session_status(r, 150) -> 'status' ->> 'name', 'PROCESSING', 'a move right after opening, one statement')
  FROM (SELECT sessions.open_session('online') AS r) s;
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.oid IN ('sessions.session_status(text)'::regprocedure, 'sessions.session_state(text)'::regprocedure,
                                 'sessions.resume_session(jsonb)'::regprocedure, 'sessions.session_secret(text)'::regprocedure)
                   AND p.provolatile <> 'v'),
          '{}'::text[], 'reads by reference are VOLATILE (a fresh snapshot per call)');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.oid IN ('sessions.list_sessions(text,integer[],timestamp with time zone,timestamp with time zone,integer,text)'::regprocedure,
                                 'sessions.invoice_list_page(text,integer[],timestamp with time zone,timestamp with time zone,integer,text)'::regprocedure,
                                 'sessions.continuation_token(text,text,uuid)'::regprocedure)
                   AND p.provolatile <> 's'),
          '{}'::text[], 'listing stays STABLE: one snapshot for the page and its token');
-- Under REPEATABLE READ the transaction's snapshot is kept, and the new
-- command id still shows the row this transaction wrote.
SELECT is(dblink_connect('rr', format('dbname=%s host=%s port=%s user=%s', current_database(),
                         current_setting('unix_socket_directories'), current_setting('port'), current_user)), 'OK',
          'a second connection');
SELECT is((SELECT t.s FROM dblink('rr', $$BEGIN ISOLATION LEVEL REPEATABLE READ;
                                        SELECT sessions.session_status(sessions.open_session('online')) -> 'status' ->> 'name'$$) AS t(s text)),
          'OPEN', 'open and read in one statement under REPEATABLE READ');
SELECT is((SELECT t.s FROM dblink('rr', $$SELECT sessions.session_state(sessions.open_session('batch')) ->> 'type'$$) AS t(s text)),
          'batch', 'session_state likewise under REPEATABLE READ');
SELECT is(dblink_exec('rr', 'ROLLBACK'), 'ROLLBACK', 'nothing kept');
SELECT is(dblink_disconnect('rr'), 'OK', 'disconnected');

-- list_sessions() with no argument -------------------------------------------------
DELETE FROM sessions.store WHERE kind = 'invoice';
SELECT sessions.open_session('online', reference => 'online-' || i) FROM generate_series(1, 12) i;
SELECT sessions.open_session('batch', reference => 'batch-1');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions()), 10,
          'list_sessions(): a page of the documented default size (10)');
SELECT is((SELECT items FROM sessions.list_sessions()), (SELECT items FROM sessions.list_sessions('online')),
          'list_sessions() is list_sessions(''online'')');
SELECT is((SELECT count(*) FROM sessions.list_sessions(), jsonb_array_elements(items) e WHERE e ->> 'type' <> 'online'), 0::bigint,
          'online sessions only');
SELECT isnt((SELECT continuation FROM sessions.list_sessions()), NULL, 'twelve sessions: a continuation token');
SELECT is((SELECT jsonb_array_length(p2.items)
             FROM sessions.list_sessions() p1, sessions.list_sessions(continuation => p1.continuation) p2), 2,
          'the token continues with named arguments only');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions(page_size => 20)), 12, 'list_sessions(page_size => 20)');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('batch')), 1, 'the type still chooses batch');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('offline')$$, '22023', 'type must be ''online'' or ''batch''',
                 'an unknown type names the accepted ones');
SELECT is(pg_get_function_arguments('sessions.list_sessions(text,integer[],timestamp with time zone,timestamp with time zone,integer,text)'::regprocedure),
          'type text DEFAULT ''online''::text, statuses integer[] DEFAULT NULL::integer[], created_from timestamp with time zone DEFAULT NULL::timestamp with time zone, created_to timestamp with time zone DEFAULT NULL::timestamp with time zone, page_size integer DEFAULT 10, continuation text DEFAULT NULL::text',
          'the documented defaults');
-- A reader lists with no argument too.
CREATE ROLE sa_tap_lsw_reader LOGIN IN ROLE session_analytics_reader;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_lsw_reader', 'online');
SET LOCAL ROLE sa_tap_lsw_reader;
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions(page_size => 100)), 12, 'a reader calls list_sessions()');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
