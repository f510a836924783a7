-- The store: schema, columns, keys, privileges and row-level security.
BEGIN;
SELECT plan(24);

SELECT has_schema('sessions');
SELECT has_table('sessions', 'store', 'sessions.store exists');
SELECT columns_are('sessions', 'store', ARRAY[
    'session_key', 'kind', 'namespace', 'external_id', 'status', 'started_at', 'ended_at',
    'kwh', 'user_ref', 'site', 'evse', 'connector', 'valid_until', 'created_at',
    'last_updated', 'doc']);
SELECT col_type_is('sessions', 'store', 'session_key', 'uuid', 'session_key is a uuid');
SELECT col_type_is('sessions', 'store', 'doc', 'jsonb', 'doc is jsonb');
SELECT col_is_pk('sessions', 'store', ARRAY['session_key', 'namespace'], 'primary key includes the namespace');
SELECT col_is_unique('sessions', 'store', ARRAY['namespace', 'kind', 'external_id'], 'external ids unique per namespace and kind');
SELECT has_index('sessions', 'store', 'store_kind_last_updated_idx', ARRAY['kind', 'last_updated'], 'index for last_updated windows');
SELECT has_index('sessions', 'store', 'store_started_at_idx', ARRAY['started_at'], 'index for time-range scans');
SELECT has_role('session_analytics_reader');
SELECT has_role('session_analytics_writer');
SELECT table_privs_are('sessions', 'store', 'session_analytics_reader', ARRAY['SELECT']);
SELECT table_privs_are('sessions', 'store', 'session_analytics_writer', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
SELECT table_privs_are('sessions', 'store', 'public', ARRAY[]::text[]);
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'sessions.store'::regclass), 'RLS enabled on the store');

-- Constraints reject nonsense with class-23 codes.
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status) VALUES ('bogus', 'x', 'A')$$,
                 '23514', NULL, 'unknown kind rejected');
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status, kwh) VALUES ('ocpi', 'x', 'A', -1)$$,
                 '23514', NULL, 'negative kWh rejected');
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status, started_at, ended_at)
                   VALUES ('ocpi', 'x', 'A', '2025-01-02', '2025-01-01')$$,
                 '23514', NULL, 'end before start rejected');
INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'A1', 'ACTIVE');
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'A1', 'ACTIVE')$$,
                 '23505', NULL, 'external id unique within namespace and kind');
SELECT lives_ok($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'BE-BEC', 'A1', 'ACTIVE')$$,
                'same external id in another namespace');

-- Row-level security: a role mapped to one party sees and changes only it.
CREATE ROLE sa_tap_party_nl LOGIN IN ROLE session_analytics_writer;
CREATE ROLE sa_tap_unmapped LOGIN IN ROLE session_analytics_reader;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_party_nl', 'NL-TNM');
SET LOCAL ROLE sa_tap_party_nl;
SELECT results_eq($$SELECT namespace FROM sessions.store$$, ARRAY['NL-TNM'], 'mapped role sees only its party');
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'BE-BEC', 'X', 'ACTIVE')$$,
                 '42501', NULL, 'mapped role cannot write another party''s rows');
UPDATE sessions.store SET status = 'COMPLETED' WHERE namespace = 'BE-BEC';
RESET ROLE;
SELECT is((SELECT status FROM sessions.store WHERE namespace = 'BE-BEC'), 'ACTIVE',
          'mapped role cannot update another party''s rows');
SET LOCAL ROLE sa_tap_unmapped;
SELECT is((SELECT count(*) FROM sessions.store), 0::bigint, 'a role without a mapping sees nothing');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
