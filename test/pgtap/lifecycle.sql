-- Invoice-style lifecycle: open, status codes, counters, state, secrets, leases, expiry.
BEGIN;
SELECT plan(169);

SELECT has_function('sessions', 'open_session', ARRAY['text', 'interval', 'text', 'jsonb']);
SELECT function_returns('sessions', 'open_session', ARRAY['text', 'interval', 'text', 'jsonb'], 'text');
SELECT has_function('sessions', 'set_session_status', ARRAY['text', 'integer', 'text']);
SELECT has_function('sessions', 'count_session_item', ARRAY['text', 'boolean']);
SELECT has_function('sessions', 'session_status', ARRAY['text']);
SELECT has_function('sessions', 'list_sessions', ARRAY['text', 'integer[]', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'text']);
SELECT has_function('sessions', 'terminate_session', ARRAY['text']);
SELECT has_function('sessions', 'session_state', ARRAY['text']);
SELECT has_function('sessions', 'resume_session', ARRAY['jsonb']);
SELECT has_function('sessions', 'claim_session', ARRAY['text', 'text', 'interval']);
SELECT has_function('sessions', 'release_session', ARRAY['text', 'text']);
SELECT has_function('sessions', 'expire_sessions', ARRAY[]::text[]);
SELECT function_returns('sessions', 'expire_sessions', ARRAY[]::text[], 'integer');
SELECT has_function('sessions', 'metrics', ARRAY[]::text[]);

-- Helpers
SELECT is(ARRAY[sessions.invoice_status_name(100), sessions.invoice_status_name(150), sessions.invoice_status_name(170),
                sessions.invoice_status_name(200), sessions.invoice_status_name(415), sessions.invoice_status_name(440)],
          ARRAY['OPEN', 'PROCESSING', 'CLOSED', 'SUCCEEDED', 'FAILED', 'CANCELLED'], 'status names by code');
SELECT is(sessions.invoice_status_name(300), NULL, '300 is not a status');
SELECT is(sessions.invoice_status_description(445), 'Failed: no valid items', 'default description');
SELECT hasnt_function('sessions', 'invoice_transition_ok', 'the transition table is part of set_session_status (no helper to grant)');
-- Signing: no SQL function signs caller-supplied data; the key table has no grants.
SELECT hasnt_function('sessions', 'lifecycle_mac', ARRAY['text', 'text'], 'no generic signing function');
SELECT hasnt_function('sessions', 'state_payload', ARRAY['integer', 'text', 'text', 'uuid', 'timestamp with time zone', 'timestamp with time zone'],
                      'no state payload helper');
SELECT has_function('sessions', 'rotate_lifecycle_key', ARRAY[]::text[]);
SELECT is((SELECT count(*) FROM sessions.lifecycle_key), 1::bigint, 'one signing key, made at install');
SELECT is((SELECT octet_length(hmac_key) FROM sessions.lifecycle_key), 32, 'a 256-bit key');
SELECT is((SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = 'sessions.lifecycle_key'::regclass AND a.grantee <> c.relowner), 0::bigint,
          'the key table has no grants but its owner''s');
-- pg_temp.hmac(key, message) and pg_temp.sign(purpose, parts): the signature, computed independently.
\ir lib/lifecycle_mac.sql

-- open_session: reference allocated, store conventions kept.
SELECT sessions.open_session('online', metadata => '{"form_code": "FA3"}') AS r1 \gset
SELECT matches(:'r1'::text, '^[0-9]{8}-SO-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$', 'reference format YYYYMMDD-SO-hex10-hex10-check');
SELECT is(right(:'r1', 2), upper(substr(encode(sha256(convert_to(left(:'r1', -3), 'UTF8')), 'hex'), 1, 2)), 'check digits');
SELECT matches(sessions.open_session('batch'), '^[0-9]{8}-SB-', 'batch references carry SB');
SELECT results_eq(format($$SELECT kind, namespace, external_id, status, started_at, ended_at, valid_until FROM sessions.store WHERE external_id = %L$$, :'r1'),
    $$VALUES ('invoice', 'online', $$ || quote_literal(:'r1') || $$, 'OPEN', now(), NULL::timestamptz, now() + interval '12 hours')$$,
    'stored as kind invoice, namespace = type, external_id = reference, OPEN, valid 12 hours');
SELECT is(sessions.open_session('online', interval '1 hour', 'my-ref.001'), 'my-ref.001', 'a given reference is kept');
SELECT throws_ok($$SELECT sessions.open_session('online', reference => 'my-ref.001')$$, '23505', 'session "my-ref.001" already exists', 'duplicate reference');
SELECT is(sessions.open_session('batch', reference => 'my-ref.001'), 'my-ref.001',
          'references are unique within a type only (no oracle on other types)');
SELECT throws_ok($$SELECT sessions.session_status('my-ref.001')$$, '21000',
                 'reference "my-ref.001" names sessions of more than one type', 'status of a reference seen in two types');
SELECT throws_ok($$SELECT sessions.terminate_session('my-ref.001')$$, '21000', NULL, 'a change by a reference seen in two types');
INSERT INTO sessions.invoice_secret (session_key, namespace, secret)
SELECT s.session_key, s.namespace, '\x01' FROM sessions.store s WHERE s.kind = 'invoice' AND s.external_id = 'my-ref.001';
SELECT throws_ok($$SELECT sessions.session_secret('my-ref.001')$$, '21000', NULL, 'the secret of a reference seen in two types');
DELETE FROM sessions.store WHERE kind = 'invoice' AND namespace = 'batch' AND external_id = 'my-ref.001';
SELECT throws_ok($$SELECT sessions.open_session('offline')$$, '22023', 'type must be ''online'' or ''batch''', 'unknown type');
SELECT throws_ok($$SELECT sessions.open_session(NULL)$$, '22023', NULL, 'NULL type');
SELECT throws_ok($$SELECT sessions.open_session('online', interval '0')$$, '22023', 'valid_for must be a positive interval', 'zero validity');
SELECT throws_ok($$SELECT sessions.open_session('online', interval '-1 hour')$$, '22023', NULL, 'negative validity');
SELECT throws_ok($$SELECT sessions.open_session('online', reference => '')$$, '22023', NULL, 'empty reference');
SELECT throws_ok($$SELECT sessions.open_session('online', reference => 'has space')$$, '22023', NULL, 'reference with a space');
SELECT throws_ok($$SELECT sessions.open_session('online', metadata => '[]')$$, '22023', 'metadata must be a JSON object', 'metadata not an object');
SELECT throws_ok($$SELECT sessions.open_session('online', metadata => jsonb_build_object('x', repeat('y', 70000)))$$, '22001', NULL, 'metadata too large');
SELECT is((SELECT count(*) FROM sessions.store WHERE kind = 'invoice'), 3::bigint, 'refused opens wrote nothing');

-- session_status
SELECT is(sessions.session_status(:'r1') - 'date_created' - 'date_updated' - 'valid_until' - 'reference',
          '{"type": "online", "status": {"code": 100, "name": "OPEN", "description": "Session open"},
            "date_ended": null, "invoice_count": 0, "successful": 0, "failed": 0}'::jsonb, 'status document of an open session');
SELECT is((sessions.session_status(:'r1') ->> 'valid_until')::timestamptz, now() + interval '12 hours', 'valid_until');
SELECT throws_ok($$SELECT sessions.session_status('nope')$$, 'P0002', 'session "nope" does not exist', 'unknown reference');
SELECT throws_ok($$SELECT sessions.session_status('')$$, '22023', NULL, 'empty reference');

-- count_session_item
SELECT is(sessions.count_session_item(:'r1', true), '{"invoice_count": 1, "successful": 1, "failed": 0}', 'one successful item');
SELECT is(sessions.count_session_item(:'r1', false), '{"invoice_count": 2, "successful": 1, "failed": 1}', 'one failed item');
SELECT throws_ok(format('SELECT sessions.count_session_item(%L, NULL)', :'r1'), '22004', NULL, 'NULL ok');
SELECT throws_ok($$SELECT sessions.count_session_item('nope', true)$$, 'P0002', NULL, 'count on unknown reference');

-- set_session_status: legal moves only.
SELECT is(sessions.set_session_status(:'r1', 150) -> 'status', '{"code": 150, "name": "PROCESSING", "description": "Processing"}', '100 -> 150');
SELECT is((SELECT ended_at FROM sessions.store WHERE external_id = :'r1'), NULL, 'processing is still open');
SELECT throws_ok(format('SELECT sessions.set_session_status(%L, 100)', :'r1'), '55000', NULL, '150 -> 100 refused');
SELECT throws_ok(format('SELECT sessions.set_session_status(%L, 300)', :'r1'), '22023', NULL, 'unknown code');
SELECT throws_ok(format('SELECT sessions.set_session_status(%L, NULL)', :'r1'), '22023', NULL, 'NULL code');
SELECT throws_ok($$SELECT sessions.set_session_status('nope', 170)$$, 'P0002', NULL, 'status of unknown reference');
SELECT is(sessions.set_session_status(:'r1', 170, 'closed by the client') -> 'status' ->> 'description', 'closed by the client', '150 -> 170 with a description');
SELECT results_eq(format($$SELECT status, ended_at FROM sessions.store WHERE external_id = %L$$, :'r1'),
    $$VALUES ('CLOSED', now())$$, 'closing sets ended_at');
SELECT is(sessions.count_session_item(:'r1', true) -> 'invoice_count', '3', 'items still counted while closed');
SELECT is(sessions.set_session_status(:'r1', 200) -> 'status' ->> 'name', 'SUCCEEDED', '170 -> 200');
SELECT is(sessions.set_session_status(:'r1', 200) -> 'status' ->> 'code', '200', 'same code again is a no-op');
SELECT throws_ok(format('SELECT sessions.set_session_status(%L, 150)', :'r1'), '55000', NULL, 'a final status does not move');
SELECT throws_ok(format('SELECT sessions.count_session_item(%L, true)', :'r1'), '55000', NULL, 'no counting after a final status');
SELECT sessions.open_session('online') AS r2 \gset
SELECT throws_ok(format('SELECT sessions.set_session_status(%L, 200)', :'r2'), '55000', NULL, '100 -> 200 refused (close first)');
SELECT is(sessions.set_session_status(:'r2', 415) -> 'status', '{"code": 415, "name": "FAILED", "description": "Failed: the session key could not be decrypted"}', '100 -> 415 failed');
SELECT isnt((SELECT ended_at FROM sessions.store WHERE external_id = :'r2'), NULL, 'failure ends the session');
SELECT sessions.open_session('online') AS r3 \gset
SELECT is(sessions.set_session_status(:'r3', 440) -> 'status' ->> 'name', 'CANCELLED', '100 -> 440 cancelled');

-- terminate_session: closes once.
SELECT sessions.open_session('online') AS r4 \gset
SELECT is(sessions.terminate_session(:'r4'), true, 'terminate closes an open session');
SELECT is(sessions.terminate_session(:'r4'), false, 'terminate again returns false');
SELECT is(sessions.session_status(:'r4') -> 'status' ->> 'code', '170', 'terminated is 170');
SELECT is(sessions.terminate_session(:'r2'), false, 'terminate on a failed session returns false');
SELECT throws_ok($$SELECT sessions.terminate_session('nope')$$, 'P0002', NULL, 'terminate unknown');

-- session_state / resume_session
SELECT sessions.open_session('online') AS r5 \gset
SELECT sessions.session_state(:'r5') AS st \gset
SELECT is(:'st'::jsonb -> 'format_version', '2', 'state document is versioned (format 2)');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'st'::jsonb) k),
          ARRAY['date_created', 'format_version', 'reference', 'session_key', 'signature', 'type', 'valid_until'],
          'state document carries only the signed fields');
SELECT is(:'st'::jsonb ->> 'signature',
          pg_temp.sign('state', ARRAY[:'st'::jsonb ->> 'reference', :'st'::jsonb ->> 'type', :'st'::jsonb ->> 'session_key',
                                      :'st'::jsonb ->> 'date_created', :'st'::jsonb ->> 'valid_until']),
          'signature: HMAC-SHA256 of the framed fields under the database key');
SELECT results_eq(format($$SELECT (%L::jsonb ->> 'session_key')::uuid, (%L::jsonb ->> 'date_created')::timestamptz, (%L::jsonb ->> 'valid_until')::timestamptz$$,
                         :'st', :'st', :'st'),
                  format($$SELECT session_key, started_at, valid_until FROM sessions.store WHERE external_id = %L$$, :'r5'),
                  'key and dates are the session''s');
SELECT matches(:'st'::jsonb ->> 'valid_until', '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$', 'dates written in UTC');
SET LOCAL TimeZone = 'Asia/Kolkata';
SELECT is(sessions.session_state(:'r5'), :'st'::jsonb, 'the same document whatever the TimeZone');
SELECT is(sessions.resume_session(:'st') -> 'status' ->> 'code', '100', 'resumed under another TimeZone');
RESET TimeZone;
SELECT is(sessions.resume_session(:'st') -> 'status' ->> 'code', '100', 'resume returns the live status');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"valid_until": "2099-01-01T00:00:00+00:00"}'),
                 '22023', 'state document signature does not match: it was altered or not issued by this database', 'altered valid_until refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || jsonb_build_object(''reference'', %L))', :'st', :'r4'),
                 '22023', NULL, 'state moved to another reference refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"type": "batch"}'), '22023', NULL, 'altered type refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"date_created": "2020-01-01T00:00:00+00:00"}'),
                 '22023', NULL, 'altered date_created refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || jsonb_build_object(''session_key'', gen_random_uuid()))', :'st'),
                 '22023', NULL, 'altered session_key refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"signature": "00"}'),
                 '22023', 'state document signature does not match: it was altered or not issued by this database', 'forged signature');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || jsonb_build_object(''signature'', upper(%L::jsonb ->> ''signature'')))', :'st', :'st'),
                 '22023', NULL, 'signature in upper case refused (exact form only)');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"format_version": 3}'),
                 '0A000', 'state document format_version 3 is not supported', 'unsupported format_version');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"format_version": 1}'),
                 '0A000', 'state document format_version 1 is not supported', 'format_version 1 (the old signing scheme) refused');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"format_version": "2"}'),
                 '22023', 'state document has no format_version', 'format_version as a string');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb - %L)', :'st', 'format_version'), '22023', NULL, 'no format_version');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb - %L)', :'st', 'session_key'), '22023', 'state document is malformed', 'missing field');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"session_key": "not-a-uuid"}'), '22023', 'state document is malformed', 'bad field type');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || jsonb_build_object(''session_key'', upper(%L::jsonb ->> ''session_key'')))', :'st', :'st'),
                 '22023', 'state document is malformed', 'session_key not in canonical form');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"type": "offline"}'), '22023', 'state document is malformed', 'unknown type');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"date_created": 1}'), '22023', 'state document is malformed', 'date_created not a string');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"reference": null}'), '22023', 'state document is malformed', 'null reference');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"signature": ["x"]}'), '22023', 'state document is malformed', 'signature not a string');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', :'st', '{"encryption_key": "x"}'), '22023',
                 'state document has unexpected keys: "encryption_key"', 'unexpected key');
SELECT throws_ok($$SELECT sessions.resume_session('[1]')$$, '22023', 'state must be a JSON object from sessions.session_state()', 'not an object');
SELECT throws_ok($$SELECT sessions.resume_session('"x"')$$, '22023', NULL, 'a scalar');
SELECT throws_ok($$SELECT sessions.resume_session(NULL)$$, '22023', NULL, 'NULL state');
SELECT throws_ok(format('SELECT sessions.resume_session(sessions.session_state(%L))', :'r4'), '55000', NULL, 'closed session not resumed');
SELECT sessions.session_state(:'r3') AS st3 \gset
DELETE FROM sessions.store WHERE external_id = :'r3';
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'st3'), 'P0002', format('session "%s" does not exist', :'r3'),
                 'state of a deleted session is unknown');
SELECT throws_ok($$SELECT sessions.session_state('nope')$$, 'P0002', 'session "nope" does not exist', 'state of unknown reference');
SELECT throws_ok($$SELECT sessions.session_state('')$$, '22023', 'reference must not be empty', 'state of empty reference');
SELECT throws_ok($$SELECT sessions.session_state(NULL)$$, '22023', NULL, 'state of NULL reference');
SELECT throws_ok(format($$SELECT sessions.session_state(%L)$$, repeat('x', 10000)), 'P0002',
                 'session "' || repeat('x', 64) || '..." does not exist', 'a long reference is echoed cut');
-- A genuine document of a session whose creation time was changed since.
SELECT sessions.open_session('online', reference => 'moved-1') AS r6 \gset
SELECT sessions.session_state(:'r6') AS st6 \gset
UPDATE sessions.store SET started_at = started_at - interval '1 second' WHERE external_id = :'r6';
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'st6'), '22023', 'state document does not match session "moved-1"',
                 'a document whose date_created no longer matches is refused');
-- A session without a deadline: valid_until is null, signed as such.
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, doc)
VALUES ('invoice', 'batch', 'no-deadline', 'OPEN', now(), '{"status_code": 100, "description": "Session open"}');
SELECT is(sessions.session_state('no-deadline') -> 'valid_until', 'null'::jsonb, 'no deadline: valid_until null');
SELECT is(sessions.resume_session(sessions.session_state('no-deadline')) -> 'status' ->> 'code', '100', 'and it resumes');
SELECT throws_ok(format('SELECT sessions.resume_session(%L::jsonb || %L)', sessions.session_state('no-deadline'), '{"valid_until": "2099-01-01T00:00:00+00:00"}'),
                 '22023', NULL, 'a deadline added to it is refused');

-- The key: rotation, a restored key, a missing key.
SELECT hmac_key AS k0, rotated_at AS t0 FROM sessions.lifecycle_key \gset
SELECT lives_ok('SELECT sessions.rotate_lifecycle_key()', 'the owner rotates the key');
SELECT isnt((SELECT hmac_key FROM sessions.lifecycle_key), :'k0'::bytea, 'a new key');
SELECT is((SELECT octet_length(hmac_key) FROM sessions.lifecycle_key), 32, 'of 32 bytes');
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'st'), '22023',
                 'state document signature does not match: it was altered or not issued by this database',
                 'a document signed before the rotation is refused at once');
SELECT isnt(sessions.session_state(:'r5') ->> 'signature', :'st'::jsonb ->> 'signature', 'new documents are signed with the new key');
SELECT is(sessions.resume_session(sessions.session_state(:'r5')) -> 'status' ->> 'code', '100', 'and accepted');
UPDATE sessions.lifecycle_key SET hmac_key = :'k0';
SELECT is(sessions.resume_session(:'st') -> 'status' ->> 'code', '100', 'with the old key put back, the old document is accepted again');
DELETE FROM sessions.lifecycle_key;
SELECT throws_ok(format('SELECT sessions.session_state(%L)', :'r5'), '55000',
                 'the signing key of extension "session_analytics" is missing or invalid', 'no key: nothing is signed');
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'st'), '55000', NULL, 'no key: nothing verifies');
SELECT lives_ok('SELECT sessions.rotate_lifecycle_key()', 'rotation makes a key again');
SELECT is(sessions.resume_session(sessions.session_state(:'r5')) -> 'status' ->> 'code', '100', 'and signing works again');
SELECT throws_ok('SELECT sessions.lifecycle_key_changed()', '39P01', 'sessions.lifecycle_key_changed() must be called as a trigger',
                 'the key trigger function is not callable directly');
CREATE TEMP TABLE not_the_key (x int);
CREATE TRIGGER t AFTER INSERT ON not_the_key FOR EACH STATEMENT EXECUTE FUNCTION sessions.lifecycle_key_changed();
SELECT throws_ok('INSERT INTO not_the_key VALUES (1)', '39P01', NULL, 'the key trigger runs on no other table');

-- Secrets: kept apart, readable only by the role that stored them.
CREATE ROLE sa_tap_w1 LOGIN IN ROLE session_analytics_writer;
CREATE ROLE sa_tap_w2 LOGIN IN ROLE session_analytics_writer;
CREATE ROLE sa_tap_r LOGIN IN ROLE session_analytics_reader;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_w1', '*'), ('sa_tap_w2', '*'), ('sa_tap_r', '*');
SET LOCAL ROLE sa_tap_w1;
SELECT lives_ok(format($$SELECT sessions.set_session_secret(%L, '\xdeadbeef')$$, :'r5'), 'secret stored');
SELECT is(sessions.session_secret(:'r5'), '\xdeadbeef'::bytea, 'the owning role reads it');
SELECT lives_ok(format($$SELECT sessions.set_session_secret(%L, '\xcafe5ec7e7cafe5ec7e7')$$, :'r5'), 'secret replaced by its owner');
SELECT throws_ok(format($$SELECT sessions.set_session_secret(%L, '')$$, :'r5'), '22023', NULL, 'empty secret');
SELECT throws_ok(format($$SELECT sessions.set_session_secret(%L, '\x01')$$, :'r4'), '55000', NULL, 'no secret for a closed session');
SELECT unalike(sessions.session_state(:'r5')::text || sessions.session_status(:'r5')::text, '%cafe5ec7e7cafe5ec7e7%', 'secret not in state or status (its 20 hex digits cannot occur in a signature by chance)');
SET LOCAL ROLE sa_tap_w2;
SELECT is(sessions.session_secret(:'r5'), NULL, 'another writer cannot read it');
SELECT throws_ok(format($$SELECT sessions.set_session_secret(%L, '\x00')$$, :'r5'), '42501', NULL, 'nor overwrite it');
SET LOCAL ROLE sa_tap_r;
SELECT throws_ok('SELECT secret FROM sessions.invoice_secret', '42501', NULL, 'readers have no access to the secret table');
SELECT is(sessions.resume_session(sessions.session_state(:'r5')) -> 'status' ->> 'code', '100', 'a reader can resume');
SELECT throws_ok($$SELECT sessions.open_session('online')$$, '42501', NULL, 'a reader cannot open sessions');
SELECT throws_ok(format($$SELECT sessions.claim_session(%L, 'r', '1 minute')$$, :'r5'), '42501', NULL, 'a reader cannot claim');
SELECT throws_ok('SELECT sessions.expire_sessions()', '42501', NULL, 'a reader cannot run expiry');
SELECT throws_ok('SELECT * FROM sessions.lifecycle_key', '42501', NULL, 'the signing key is not readable');
SELECT throws_ok('SELECT sessions.rotate_lifecycle_key()', '42501', NULL, 'a reader cannot rotate the key');
RESET ROLE;
-- EXECUTE granted by mistake is not enough: only the key's owner rotates it.
GRANT EXECUTE ON FUNCTION sessions.rotate_lifecycle_key() TO sa_tap_w2;
SET LOCAL ROLE sa_tap_w2;
SELECT throws_ok('SELECT sessions.rotate_lifecycle_key()', '42501',
                 'only the owner of extension "session_analytics" may rotate the signing key', 'nor a non-owner granted EXECUTE');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION sessions.rotate_lifecycle_key() FROM sa_tap_w2;

-- Leases
SELECT is(sessions.claim_session(:'r5', 'worker-a', '1 minute'), true, 'first claim wins');
SELECT is(sessions.claim_session(:'r5', 'worker-b', '1 minute'), false, 'second holder refused while the lease runs');
SELECT is(sessions.claim_session(:'r5', 'worker-a', '5 minutes'), true, 'the holder renews');
SELECT is(sessions.release_session(:'r5', 'worker-b'), false, 'a non-holder cannot release');
SELECT is(sessions.release_session(:'r5', 'worker-a'), true, 'the holder releases');
SELECT is(sessions.claim_session(:'r5', 'worker-b', '1 minute'), true, 'a released session can be claimed');
UPDATE sessions.session_lease SET lease_until = clock_timestamp() - interval '1 second';
SELECT is(sessions.claim_session(:'r5', 'worker-c', '1 minute'), true, 'a lapsed lease is taken over');
SELECT is((SELECT holder FROM sessions.session_lease), 'worker-c', 'one holder recorded');
SELECT throws_ok(format($$SELECT sessions.claim_session(%L, '', '1 minute')$$, :'r5'), '22023', NULL, 'empty holder');
SELECT throws_ok(format($$SELECT sessions.claim_session(%L, 'w', '0')$$, :'r5'), '22023', NULL, 'zero lease');
SELECT throws_ok(format($$SELECT sessions.claim_session(%L, 'w', '1 minute')$$, :'r2'), '55000', NULL, 'a failed session cannot be claimed');
SELECT throws_ok($$SELECT sessions.claim_session('nope', 'w', '1 minute')$$, 'P0002', NULL, 'claim unknown');
SELECT throws_ok(format($$SELECT sessions.release_session(%L, NULL)$$, :'r5'), '22023', NULL, 'release without holder');

-- Expiry: an open session past valid_until reads as 440 EXPIRED at once.
SELECT sessions.open_session('batch', reference => 'exp-1') AS rx \gset
SELECT sessions.open_session('batch', reference => 'exp-2') AS ry \gset
UPDATE sessions.store SET started_at = now() - interval '2 hours', valid_until = now() - interval '1 hour'
 WHERE external_id IN ('exp-1', 'exp-2');
SELECT is(sessions.session_status('exp-1') -> 'status', '{"code": 440, "name": "EXPIRED", "description": "Session expired: valid_until passed"}',
          'expired before any expiry run');
SELECT throws_ok(format('SELECT sessions.resume_session(sessions.session_state(%L))', 'exp-1'), '55000', 'session "exp-1" expired at ' || (now() - interval '1 hour'), 'an expired session is not resumed');
SELECT is(sessions.terminate_session('exp-1'), false, 'terminate on an expired session returns false');
SELECT results_eq($$SELECT status, ended_at, (doc ->> 'status_code')::int FROM sessions.store WHERE external_id = 'exp-1'$$,
    $$VALUES ('EXPIRED', now() - interval '1 hour', 440)$$, 'the expiry was written on the way, ended at valid_until');
SELECT throws_ok($$SELECT sessions.count_session_item('exp-2', true)$$, '55000', NULL, 'no counting after expiry');
SELECT is(sessions.expire_sessions(), 1, 'the refused count rolled back, so expire_sessions ends exp-2');
SELECT sessions.open_session('batch', reference => 'exp-3') AS rz \gset
UPDATE sessions.store SET started_at = now() - interval '2 hours', valid_until = now() - interval '1 hour' WHERE external_id = 'exp-3';
SELECT is(sessions.expire_sessions(), 1, 'expire_sessions ends a due session');
SELECT is((SELECT status FROM sessions.store WHERE external_id = 'exp-3'), 'EXPIRED', 'written as EXPIRED');
SELECT matches(sessions.metrics(), 'sessions_expired_total\{kind="invoice",data_source="batch"\} 3', 'expired counter by type');

-- Reads under row-level security: a role mapped to 'batch' sees no online sessions.
CREATE ROLE sa_tap_batch LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_batch', 'batch');
SET LOCAL ROLE sa_tap_batch;
SELECT throws_ok(format('SELECT sessions.session_status(%L)', :'r5'), 'P0002', NULL, 'another type''s session is unknown');
SELECT throws_ok(format('SELECT sessions.claim_session(%L, %L, %L)', :'r5', 'w', '1 minute'), 'P0002', NULL, 'and cannot be claimed');
RESET ROLE;

-- Dropped and created again in this backend: the cached key and look-up
-- plans follow the new extension (its new key table and key).
SELECT sessions.session_state(:'r5') AS warm \gset
DROP EXTENSION session_analytics CASCADE;
CREATE EXTENSION session_analytics;
SELECT is(sessions.open_session('online', reference => 'again-1'), 'again-1', 'extension created again');
SELECT is(sessions.resume_session(sessions.session_state('again-1')) -> 'status' ->> 'code', '100',
          'signing and resuming work after DROP and CREATE EXTENSION in the same backend');
SELECT throws_ok(format('SELECT sessions.resume_session(%L)', :'warm'), '22023',
                 'state document signature does not match: it was altered or not issued by this database',
                 'a document signed with the dropped extension''s key is refused (the cached key went with it)');

SELECT * FROM finish();
ROLLBACK;
