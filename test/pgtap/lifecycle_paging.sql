-- list_sessions paging and concurrent claim_session, across connections (dblink).
BEGIN;
SELECT plan(26);

CREATE FUNCTION pg_temp.conninfo() RETURNS text LANGUAGE sql AS $$
    SELECT format('host=%s port=%s dbname=%s user=%s',
                  split_part(current_setting('unix_socket_directories'), ',', 1),
                  current_setting('port'), current_database(), current_user)
$$;
-- Runs a query on connection 'w' (autocommit unless a transaction is open there).
CREATE FUNCTION pg_temp.rexec(q text) RETURNS void LANGUAGE sql AS $$
    SELECT NULL::void FROM dblink_exec('w', 'DO ' || quote_literal('BEGIN PERFORM * FROM (' || q || ') x; END'))
$$;

-- Sessions committed by another connection, so every connection sees them.
DO $$
BEGIN
    PERFORM dblink_connect('w', pg_temp.conninfo());
    PERFORM pg_temp.rexec($q$SELECT sessions.open_session('online', reference => 'pg-' || lpad(g::text, 3, '0')) FROM generate_series(1, 23) g$q$);
    PERFORM pg_temp.rexec($q$SELECT sessions.open_session('batch', reference => 'pb-' || g) FROM generate_series(1, 3) g$q$);
END
$$;

-- Page through 23 sessions, 5 at a time, while new sessions are opened
-- (and committed) between the pages.
CREATE TEMP TABLE seen (page int, reference text);
CREATE TEMP TABLE tokens (page int, token text);
DO $$
DECLARE
    tok text := NULL;
    p int := 0;
    it jsonb;
BEGIN
    LOOP
        p := p + 1;
        SELECT l.items, l.continuation INTO it, tok
          FROM sessions.list_sessions('online', page_size => 5, continuation => tok) l;
        INSERT INTO seen SELECT p, e ->> 'reference' FROM jsonb_array_elements(it) e;
        INSERT INTO tokens VALUES (p, tok);
        PERFORM pg_temp.rexec(format($q$SELECT sessions.open_session('online', reference => 'new-%s')$q$, p));
        EXIT WHEN tok IS NULL OR p > 10;
    END LOOP;
END
$$;
SELECT is((SELECT count(*) FROM tokens), 5::bigint, 'five pages for 23 sessions of page size 5');
SELECT is((SELECT token FROM tokens WHERE page = 5), NULL, 'no continuation on the last page');
SELECT is((SELECT count(*) FROM seen WHERE page = 5), 3::bigint, 'the last page holds the rest');
SELECT set_eq('SELECT reference FROM seen', $$SELECT 'pg-' || lpad(g::text, 3, '0') FROM generate_series(1, 23) g$$,
              'every session listed');
SELECT is((SELECT count(*) - count(DISTINCT reference) FROM seen), 0::bigint, 'none listed twice');
SELECT is((SELECT count(*) FROM sessions.store WHERE external_id LIKE 'new-%'), 5::bigint, 'sessions were inserted between pages');
SELECT is((SELECT items -> 0 ->> 'reference' FROM sessions.list_sessions('online', page_size => 1)), 'new-5',
          'newest first: a new listing starts with the newest');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('batch', page_size => 1000)), 3, 'filtered by type');

-- Filters
SELECT pg_temp.rexec($$SELECT sessions.terminate_session('pb-1')$$);
SELECT is((SELECT items -> 0 ->> 'reference' FROM sessions.list_sessions('batch', ARRAY[170])), 'pb-1', 'filtered by status code');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('batch', ARRAY[100, 150])), 2, 'several status codes');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('online', created_from => now() + interval '1 day')), 0,
          'created_from bound');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('online', created_to => '2000-01-01')), 0, 'created_to bound');

-- Tokens are opaque, signed and bound to their query.
SELECT (SELECT token FROM tokens WHERE page = 1) AS tok \gset
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('online', page_size => 5, continuation => :'tok')), 5,
          'a token can be replayed');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', continuation => %L)$$, :'tok' || 'x'), '22023',
                 'continuation token is malformed or was altered', 'altered token');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', continuation => %L)$$,
                        sessions.base64url(convert_to(replace(convert_from(sessions.base64url_decode(split_part(:'tok', '.', 1)), 'UTF8'), '"v": 1', '"v": 1 '), 'UTF8'))
                        || '.' || split_part(:'tok', '.', 2)),
                 '22023', NULL, 'payload changed, signature kept');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('online', continuation => 'garbage')$$, '22023', NULL, 'garbage token');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', ARRAY[100], continuation => %L)$$, :'tok'), '22023',
                 'continuation token belongs to a different query', 'token of another query');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('batch', continuation => %L)$$, :'tok'), '22023', NULL, 'token of another type');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('online', page_size => 0)$$, '22023', 'page_size must be between 1 and 1000', 'page_size 0');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('online', page_size => 1001)$$, '22023', NULL, 'page_size 1001');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('nope')$$, '22023', NULL, 'unknown type');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('online', ARRAY[999])$$, '22023', NULL, 'unknown status code');

-- Concurrent claims: six connections claim the same session at once while
-- a seventh holds the row; when it lets go exactly one claim wins.
DO $$
BEGIN
    PERFORM dblink_exec('w', 'BEGIN');
    PERFORM pg_temp.rexec($q$SELECT 1 FROM sessions.store WHERE external_id = 'pg-001' FOR UPDATE$q$);
    PERFORM dblink_connect('c' || g, pg_temp.conninfo()) FROM generate_series(1, 6) g;
    PERFORM dblink_send_query('c' || g, format($q$SELECT sessions.claim_session('pg-001', 'worker-%s', '1 minute')$q$, g))
       FROM generate_series(1, 6) g;
    PERFORM pg_sleep(0.3);
END
$$;
SELECT is((SELECT count(*) FROM generate_series(1, 6) g WHERE dblink_is_busy('c' || g) = 1), 6::bigint, 'all six claims wait on the row');
DO $$ BEGIN PERFORM dblink_exec('w', 'COMMIT'); END $$;
CREATE TEMP TABLE claims AS
SELECT g, r.granted FROM generate_series(1, 6) g, dblink_get_result('c' || g) AS r(granted boolean);
SELECT is((SELECT count(*) FROM claims WHERE granted), 1::bigint, 'exactly one concurrent claim granted');
SELECT is((SELECT count(*) FROM claims WHERE NOT granted), 5::bigint, 'the other five refused');
SELECT is((SELECT holder FROM sessions.session_lease l JOIN sessions.store s USING (session_key, namespace) WHERE s.external_id = 'pg-001'),
          (SELECT 'worker-' || g FROM claims WHERE granted), 'the lease names the winner');
DO $$
BEGIN
    PERFORM dblink_disconnect('c' || g) FROM generate_series(1, 6) g;
    PERFORM dblink_disconnect('w');
END
$$;

SELECT * FROM finish();
ROLLBACK;
