-- list_sessions paging and concurrent claim_session, across connections (dblink).
BEGIN;
SELECT plan(75);

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
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS $$
    SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.payload(tok text) RETURNS text LANGUAGE sql AS $$
    SELECT convert_from(decode(translate(split_part(tok, '.', 1), '-_', '+/')
                               || repeat('=', (4 - length(split_part(tok, '.', 1)) % 4) % 4), 'base64'), 'UTF8')
$$;
-- pg_temp.sign(purpose, parts): an independent HMAC of the framing in
-- docs/lifecycle.md under the database's key.
\ir lib/lifecycle_mac.sql
-- A token for any payload, signed with the real key: only the server (or a
-- superuser) can make one; used to check each field behind the signature.
CREATE FUNCTION pg_temp.token(payload text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.b64url(convert_to(payload, 'UTF8')) || '.' || pg_temp.sign('page', ARRAY[payload])
$$;
-- SQLSTATE, message and detail of a statement that fails ('ok' when it does not).
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || msg || coalesce(' / ' || nullif(det, ''), '');
END
$$;
SELECT (SELECT token FROM tokens WHERE page = 1) AS tok \gset
SELECT pg_temp.payload(:'tok') AS pl, pg_temp.payload(:'tok')::jsonb ->> 'q' AS q \gset
SELECT is(:'tok', pg_temp.token(:'pl'), 'token: base64url(payload) "." HMAC-SHA256 of the framed payload');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'pl'::jsonb) k), ARRAY['c', 'k', 'q', 'v'], 'payload fields v, q, c, k');
SELECT is(:'pl'::jsonb -> 'v', '2', 'token version 2');
SELECT ok(EXISTS (SELECT 1 FROM seen JOIN sessions.store s ON s.external_id = seen.reference
                   WHERE seen.page = 1 AND s.session_key = (:'pl'::jsonb ->> 'k')::uuid), 'k is a row of the page');
SELECT is((:'pl'::jsonb ->> 'c')::bigint,
          (SELECT ((EXTRACT(epoch FROM started_at) - 946684800) * 1000000)::bigint FROM sessions.store WHERE session_key = (:'pl'::jsonb ->> 'k')::uuid),
          'c is its date created in microseconds since 2000-01-01');
SELECT results_eq(format('SELECT c, k FROM sessions.continuation_cursor(%L, %L)', :'tok', :'q'),
                  format($$SELECT started_at, session_key FROM sessions.store WHERE session_key = %L$$, :'pl'::jsonb ->> 'k'),
                  'continuation_cursor returns the position');
SELECT is(sessions.continuation_token(:'q', 'online', (:'pl'::jsonb ->> 'k')::uuid), :'tok', 'continuation_token makes the same token');
SELECT is((SELECT jsonb_array_length(items) FROM sessions.list_sessions('online', page_size => 5, continuation => :'tok')), 5,
          'a token can be replayed');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', continuation => %L)$$, :'tok' || 'x'), '22023',
                 'continuation token is malformed or was altered', 'altered token');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', continuation => %L)$$,
                        pg_temp.b64url(convert_to(replace(:'pl', '"v":2', '"v": 2'), 'UTF8')) || '.' || split_part(:'tok', '.', 2)),
                 '22023', NULL, 'payload changed, signature kept');
SELECT throws_ok($$SELECT * FROM sessions.list_sessions('online', continuation => 'garbage')$$, '22023', NULL, 'garbage token');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('online', ARRAY[100], continuation => %L)$$, :'tok'), '22023',
                 'continuation token belongs to a different query', 'token of another query');
SELECT throws_ok(format($$SELECT * FROM sessions.list_sessions('batch', continuation => %L)$$, :'tok'), '22023', NULL, 'token of another type');

-- Shape, before the signature.
CREATE FUNCTION pg_temp.cur(tok text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.err(format('SELECT * FROM sessions.continuation_cursor(%L, %L)', tok, (SELECT pg_temp.payload(token)::jsonb ->> 'q' FROM tokens WHERE page = 1)))
$$;
SELECT is(pg_temp.cur(left(:'tok', -1)), '22023: continuation token is malformed or was altered / The signature after "." must be 64 lower-case hexadecimal digits.',
          'truncated signature');
SELECT is(pg_temp.cur(split_part(:'tok', '.', 1) || '.' || upper(split_part(:'tok', '.', 2))),
          '22023: continuation token is malformed or was altered / The signature after "." must be 64 lower-case hexadecimal digits.', 'signature in upper case');
SELECT is(pg_temp.cur(split_part(:'tok', '.', 1) || '.' || repeat('g', 64)),
          '22023: continuation token is malformed or was altered / The signature after "." must be 64 lower-case hexadecimal digits.', 'signature not hex');
SELECT is(pg_temp.cur(split_part(:'tok', '.', 1) || '..' || split_part(:'tok', '.', 2)),
          '22023: continuation token is malformed or was altered / The signature after "." must be 64 lower-case hexadecimal digits.', 'two dots');
SELECT is(pg_temp.cur(split_part(:'tok', '.', 1) || split_part(:'tok', '.', 2)),
          '22023: continuation token is malformed or was altered / A token is a base64url payload, "." and 64 hexadecimal digits.', 'no dot');
SELECT is(pg_temp.cur('.' || split_part(:'tok', '.', 2)),
          '22023: continuation token is malformed or was altered / A token is a base64url payload, "." and 64 hexadecimal digits.', 'no payload');
SELECT is(pg_temp.cur(translate(encode(convert_to(:'pl', 'UTF8'), 'base64'), E'\n', '') || '==.' || split_part(:'tok', '.', 2)),
          '22023: continuation token is malformed or was altered / The payload before "." is not unpadded base64url.', 'padded base64');
SELECT is(pg_temp.cur(repeat('A', 2000) || '.' || split_part(:'tok', '.', 2)),
          '22023: continuation token is malformed or was altered / The token is longer than 1024 bytes.', 'a long token');
SELECT is(pg_temp.err('SELECT * FROM sessions.continuation_cursor(NULL, md5(''x''))'), '22023: continuation token must not be NULL', 'NULL token');
SELECT is(pg_temp.err(format('SELECT * FROM sessions.continuation_cursor(%L, NULL)', :'tok')), '22023: q must not be NULL', 'NULL q');
SELECT is(pg_temp.err(format('SELECT * FROM sessions.continuation_cursor(%L, %L)', :'tok', 'online')),
          '22023: q must be 32 lower-case hexadecimal digits (the hash of the query''s filters)', 'q not a hash');

-- Each field, behind a valid signature (tokens the server would never make).
CREATE FUNCTION pg_temp.signed(payload text) RETURNS text LANGUAGE sql AS $$ SELECT pg_temp.cur(pg_temp.token(payload)) $$;
SELECT is(pg_temp.signed(:'pl'), 'ok', 'the genuine payload, re-signed, is accepted (the test signs as the server does)');
SELECT is(pg_temp.signed((:'pl'::jsonb - 'q')::text), '22023: continuation token is malformed or was altered / Field "q" is missing.', 'no q');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"q": null}')::text), '22023: continuation token is malformed or was altered / Field "q" must be a string.', 'null q');
SELECT is(pg_temp.signed((:'pl'::jsonb || jsonb_build_object('q', md5('other')))::text), '22023: continuation token belongs to a different query', 'other q');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"x": 1}')::text), '22023: continuation token is malformed or was altered / The payload has an unexpected field "x".', 'extra key');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"v": 1}')::text),
          '22023: continuation token is malformed or was altered / Field "v" must be the number 2 (the token version this server reads).', 'version 1');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"v": "2"}')::text),
          '22023: continuation token is malformed or was altered / Field "v" must be the number 2 (the token version this server reads).', 'version as a string');
SELECT is(pg_temp.signed((:'pl'::jsonb - 'v')::text), '22023: continuation token is malformed or was altered / Field "v" is missing.', 'no version');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": "1"}')::text),
          '22023: continuation token is malformed or was altered / Field "c" must be an integer timestamp in range.', 'c a string');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": 1.5}')::text),
          '22023: continuation token is malformed or was altered / Field "c" must be an integer timestamp in range.', 'c not an integer');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": 99999999999999999999}')::text),
          '22023: continuation token is malformed or was altered / Field "c" must be an integer timestamp in range.', 'c beyond int64');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": 9223371331200000000}')::text),
          '22023: continuation token is malformed or was altered / Field "c" must be an integer timestamp in range.', 'c beyond the timestamp range');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": -211813488000000001}')::text),
          '22023: continuation token is malformed or was altered / Field "c" must be an integer timestamp in range.', 'c before the timestamp range');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"c": -9223372036854775808}')::text), 'ok', 'c may be -infinity (a row can carry it)');
SELECT is(pg_temp.signed((:'pl'::jsonb - 'c')::text), '22023: continuation token is malformed or was altered / Field "c" is missing.', 'no c');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"k": "not-a-uuid"}')::text),
          '22023: continuation token is malformed or was altered / Field "k" must be a UUID in canonical form.', 'k not a uuid');
SELECT is(pg_temp.signed((:'pl'::jsonb || jsonb_build_object('k', upper(:'pl'::jsonb ->> 'k')))::text),
          '22023: continuation token is malformed or was altered / Field "k" must be a UUID in canonical form.', 'k in upper case');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"k": 1}')::text),
          '22023: continuation token is malformed or was altered / Field "k" must be a UUID in canonical form.', 'k a number');
SELECT is(pg_temp.signed(rtrim(:'pl', '}') || ',"q":"' || :'q' || '"}'), '22023: continuation token is malformed or was altered / The payload repeats a field.', 'a field twice');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"q": {"q": 1}}')::text),
          '22023: continuation token is malformed or was altered / The payload must be a JSON object of scalar fields v, q, c and k.', 'a nested object');
SELECT is(pg_temp.signed('[1, 2]'), '22023: continuation token is malformed or was altered / The payload must be a JSON object of scalar fields v, q, c and k.', 'an array');
SELECT is(pg_temp.signed('2'), '22023: continuation token is malformed or was altered / The payload must be a JSON object of scalar fields v, q, c and k.', 'a scalar');
SELECT is(pg_temp.signed('{"v":2,'), '22023: continuation token is malformed or was altered / The payload must be a JSON object of scalar fields v, q, c and k.', 'not JSON');
SELECT is(pg_temp.signed((:'pl'::jsonb || '{"x": "é"}')::text), '22023: continuation token is malformed or was altered / The payload must be printable ASCII.', 'not ASCII');

-- continuation_token signs only a row the caller can see.
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, %L, %L)', :'q', 'online', '00000000-0000-0000-0000-000000000001')),
          'P0002: session with key 00000000-0000-0000-0000-000000000001 does not exist', 'no token after an unknown row');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, %L, %L)', :'q', 'online',
                             (SELECT session_key FROM sessions.store WHERE external_id = 'pb-1'))),
          format('P0002: session with key %s does not exist', (SELECT session_key FROM sessions.store WHERE external_id = 'pb-1')),
          'nor after a row of another type');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(NULL, %L, %L)', 'online', :'pl'::jsonb ->> 'k')), '22023: q must not be NULL', 'NULL q');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, NULL, %L)', :'q', :'pl'::jsonb ->> 'k')), '22023: type must not be NULL', 'NULL type');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, %L, NULL)', :'q', 'online')), '22023: session_key must not be NULL', 'NULL key');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, %L, %L)', upper(:'q'), 'online', :'pl'::jsonb ->> 'k')),
          '22023: q must be 32 lower-case hexadecimal digits (the hash of the query''s filters)', 'q not in lower-case hex');
SELECT is(pg_temp.err(format('SELECT sessions.continuation_token(%L, %L, %L)', :'q', 'offline', :'pl'::jsonb ->> 'k')),
          '22023: type must be ''online'' or ''batch''', 'unknown type');
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
