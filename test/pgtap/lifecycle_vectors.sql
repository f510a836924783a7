-- Fixed-key signature vectors (issue 15): on one node, state documents and
-- continuation tokens are signed byte for byte as every version has signed
-- them, so what users stored stays valid after an upgrade. The expected
-- signatures are computed here, independently of the C code: HMAC-SHA256 in
-- SQL (checked against RFC 4231 and against a vector computed outside
-- PostgreSQL), over the framing of docs/lifecycle.md spelled out literally
-- ("session_analytics lifecycle" NUL purpose NUL database-OID NUL, then per
-- field 's' value NUL), under a key set to bytes 0..31. The binding of the
-- cluster (node_databases) is NULL here and changes nothing when it names
-- this database for group 0.
BEGIN;
SELECT plan(17);

-- HMAC-SHA256 (RFC 2104) from sha256(): key padded to 64 bytes, XOR 0x36 / 0x5c.
CREATE FUNCTION pg_temp.hmac256(k bytea, m bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(x.o || sha256(x.i || m))
      FROM (SELECT string_agg(set_byte('\x00'::bytea, 0, get_byte(kp.b, n) # 92), ''::bytea ORDER BY n) AS o,
                   string_agg(set_byte('\x00'::bytea, 0, get_byte(kp.b, n) # 54), ''::bytea ORDER BY n) AS i
              FROM (SELECT kk || decode(repeat('00', 64 - length(kk)), 'hex') AS b
                      FROM (SELECT CASE WHEN length(k) > 64 THEN sha256(k) ELSE k END AS kk) z) kp,
                   generate_series(0, 63) n
             GROUP BY kp.b) x
$$;
-- The framed message: domain, purpose, database OID, then 's' field NUL each.
CREATE FUNCTION pg_temp.framed(purpose text, db text, fields text[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to('session_analytics lifecycle', 'UTF8') || '\x00'::bytea || convert_to(purpose, 'UTF8') || '\x00'::bytea
           || convert_to(db, 'UTF8') || '\x00'::bytea
           || coalesce((SELECT string_agg('\x73'::bytea || convert_to(f, 'UTF8') || '\x00'::bytea, ''::bytea ORDER BY i)
                          FROM unnest(fields) WITH ORDINALITY u(f, i)), ''::bytea)
$$;
CREATE FUNCTION pg_temp.my_oid() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT oid::text FROM pg_database WHERE datname = current_database()
$$;

SELECT is(encode(pg_temp.hmac256(decode(repeat('0b', 20), 'hex'), convert_to('Hi There', 'UTF8')), 'hex'),
          'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7', 'the SQL HMAC: RFC 4231 test case 1');
SELECT is(encode(pg_temp.hmac256(convert_to('Jefe', 'UTF8'), convert_to('what do ya want for nothing?', 'UTF8')), 'hex'),
          '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', 'the SQL HMAC: RFC 4231 test case 2');
-- Computed with Python's hmac module: the token payload below, framed for database OID 16384.
SELECT is(encode(pg_temp.hmac256('\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
                                 pg_temp.framed('page', '16384',
                                     ARRAY['{"v":2,"q":"0123456789abcdef0123456789abcdef","c":820638245123456,"k":"a1b2c3d4-0000-4000-8000-00000000000f"}'])), 'hex'),
          '53240a9d3cdf958737b0adbde25883ed4c0d9dfc8b324e22a72ab235a452771a',
          'the SQL HMAC and framing agree with a vector computed outside PostgreSQL');

SELECT is((SELECT node_databases FROM sessions.lifecycle_key), NULL, 'one node: the key row has no binding (node_databases NULL)');
UPDATE sessions.lifecycle_key SET hmac_key = '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

-- A session with fixed fields.
INSERT INTO sessions.store (session_key, kind, namespace, external_id, status, started_at, valid_until, doc)
VALUES ('a1b2c3d4-0000-4000-8000-00000000000f', 'invoice', 'online', 'vec-1', 'OPEN',
        '2026-01-02 03:04:05.123456+00', '2999-01-02 15:04:05.5+00',
        '{"status_code": 100, "description": "Session open", "metadata": {}, "invoice_count": 0, "successful": 0, "failed": 0}');

-- The state document, field by field, and its signature.
SELECT sessions.session_state('vec-1') AS st \gset
SELECT is(:'st'::jsonb - 'signature',
          '{"format_version": 2, "reference": "vec-1", "type": "online", "session_key": "a1b2c3d4-0000-4000-8000-00000000000f",
            "date_created": "2026-01-02T03:04:05.123456+00:00", "valid_until": "2999-01-02T15:04:05.5+00:00"}'::jsonb,
          'state document: the fields as every version wrote them');
SELECT is(:'st'::jsonb ->> 'signature',
          encode(pg_temp.hmac256((SELECT hmac_key FROM sessions.lifecycle_key),
                                 pg_temp.framed('state', pg_temp.my_oid(),
                                     ARRAY['vec-1', 'online', 'a1b2c3d4-0000-4000-8000-00000000000f',
                                           '2026-01-02T03:04:05.123456+00:00', '2999-01-02T15:04:05.5+00:00'])), 'hex'),
          'state document: signed over the framing with this database''s OID, byte for byte');
SELECT is(sessions.resume_session(:'st') ->> 'reference', 'vec-1', 'and it resumes');

-- A document made by hand (as one stored by a user before the upgrade) verifies.
SELECT is(sessions.resume_session(jsonb_build_object(
              'format_version', 2, 'reference', 'vec-1', 'type', 'online', 'session_key', 'a1b2c3d4-0000-4000-8000-00000000000f',
              'date_created', '2026-01-02T03:04:05.123456+00:00', 'valid_until', '2999-01-02T15:04:05.5+00:00',
              'signature', encode(pg_temp.hmac256('\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
                                  pg_temp.framed('state', pg_temp.my_oid(),
                                      ARRAY['vec-1', 'online', 'a1b2c3d4-0000-4000-8000-00000000000f',
                                            '2026-01-02T03:04:05.123456+00:00', '2999-01-02T15:04:05.5+00:00'])), 'hex')))
          -> 'status' ->> 'code', '100', 'a document signed outside the server with the same key and framing is accepted');

-- The continuation token: base64url(payload) "." hex HMAC of the payload.
SELECT sessions.continuation_token('0123456789abcdef0123456789abcdef', 'online', 'a1b2c3d4-0000-4000-8000-00000000000f') AS tok \gset
SELECT is(split_part(:'tok', '.', 1),
          'eyJ2IjoyLCJxIjoiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYiLCJjIjo4MjA2MzgyNDUxMjM0NTYsImsiOiJhMWIyYzNkNC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMGYifQ',
          'token: the payload {"v":2,"q":...,"c":...,"k":...} in unpadded base64url, as every version wrote it');
SELECT is(split_part(:'tok', '.', 2),
          encode(pg_temp.hmac256('\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
                                 pg_temp.framed('page', pg_temp.my_oid(),
                                     ARRAY['{"v":2,"q":"0123456789abcdef0123456789abcdef","c":820638245123456,"k":"a1b2c3d4-0000-4000-8000-00000000000f"}'])), 'hex'),
          'token: signed over the framing with this database''s OID, byte for byte');
SELECT ok((SELECT c = '2026-01-02 03:04:05.123456+00' AND k = 'a1b2c3d4-0000-4000-8000-00000000000f'
             FROM sessions.continuation_cursor(:'tok', '0123456789abcdef0123456789abcdef')), 'and it verifies: the position it names');

-- A binding that names this database for group 0 (the coordinator's) signs alike.
UPDATE sessions.lifecycle_key SET node_databases = jsonb_build_object('0', pg_temp.my_oid()::bigint);
SELECT is(sessions.session_state('vec-1') ->> 'signature', :'st'::jsonb ->> 'signature',
          'bound to this database (group 0): the same state signature');
SELECT is(sessions.continuation_token('0123456789abcdef0123456789abcdef', 'online', 'a1b2c3d4-0000-4000-8000-00000000000f'), :'tok',
          'and the same token');
-- Bound to another database: nothing is signed or verified (a copy of a cluster's database).
UPDATE sessions.lifecycle_key SET node_databases = jsonb_build_object('0', pg_temp.my_oid()::bigint + 1);
SELECT throws_ok($$SELECT sessions.session_state('vec-1')$$, '55000',
                 'the signing key of extension "session_analytics" was made for another database',
                 'bound to another database OID: no document is signed');
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'st'), '55000', NULL, 'nor verified');
UPDATE sessions.lifecycle_key SET node_databases = '{"1": 1}';
SELECT throws_ok($$SELECT sessions.session_state('vec-1')$$, '55000',
                 'the signing key of extension "session_analytics" is not bound to this node',
                 'a binding without this node''s group: refused');
UPDATE sessions.lifecycle_key SET node_databases = NULL;
SELECT is(sessions.resume_session(:'st') ->> 'reference', 'vec-1', 'without the binding, as before');

SELECT * FROM finish();
ROLLBACK;
