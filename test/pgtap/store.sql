-- The store: schema, columns, keys, privileges and row-level security.
BEGIN;
SELECT plan(34);

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
SELECT has_index('sessions', 'store', 'store_ocpi_last_updated_idx', ARRAY['last_updated'], 'index for OCPI''s last_updated windows');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'sessions.store_ocpi_last_updated_idx'::regclass),
          '(kind = ''ocpi''::text)', 'the last_updated index holds OCPI rows only');
SELECT hasnt_index('sessions', 'store', 'store_kind_last_updated_idx', 'no (kind, last_updated) index: other kinds do not maintain one');
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

-- Session keys: version 7 UUIDs (RFC 9562), time first, increasing within a
-- backend, so the primary key grows at its right edge.
SELECT col_default_is('sessions', 'store', 'session_key', 'sessions.new_session_key()',
                      'session_key defaults to sessions.new_session_key()');
CREATE TEMP TABLE k AS SELECT g, sessions.new_session_key() AS k FROM generate_series(1, 20000) g;
SELECT is((SELECT count(*) FROM k WHERE substr(k::text, 15, 1) = '7' AND substr(k::text, 20, 1) IN ('8', '9', 'a', 'b')),
          20000::bigint, 'new_session_key: version 7, RFC 9562 variant');
SELECT is((SELECT count(DISTINCT k) FROM k), 20000::bigint, 'new_session_key: 20,000 keys, all distinct');
SELECT is((SELECT count(*) FROM (SELECT k, lag(k) OVER (ORDER BY g) AS p FROM k) x WHERE k <= p), 0::bigint,
          'new_session_key: each key greater than the one before, even within one 4096th of a millisecond');
SELECT ok((SELECT abs(('x' || translate(left(k::text, 13), '-', ''))::bit(48)::bigint
                      - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 60000 FROM k ORDER BY g DESC LIMIT 1),
          'new_session_key: its first 48 bits are the Unix time in milliseconds');
INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-KEY', 'K1', 'ACTIVE');
SELECT is((SELECT substr(session_key::text, 15, 1) FROM sessions.store WHERE namespace = 'NL-KEY'), '7',
          'a stored session gets a version 7 key');

-- ocpi_list's window (its WHERE, with the parameters it binds) is served by
-- the partial index; a window over another kind is not.
\ir lib/explain.sql
PREPARE sa_window(text, timestamptz, timestamptz) AS
    SELECT s.doc FROM sessions.store s
     WHERE s.kind = $1 AND ($2 IS NULL OR s.last_updated >= $2) AND ($3 IS NULL OR s.last_updated < $3);
SET LOCAL enable_seqscan = off;
SET LOCAL plan_cache_mode = force_custom_plan;
SELECT matches(pg_temp.explain($$EXECUTE sa_window('ocpi', '2025-01-01', '2025-02-01')$$),
               '(Index Scan using|Bitmap Index Scan on) store_ocpi_last_updated_idx.*last_updated >=.*last_updated <',
               'an OCPI last_updated window (ocpi_list''s) scans the partial index');
SELECT doesnt_match(pg_temp.explain($$EXECUTE sa_window('powerflex', '2025-01-01', '2025-02-01')$$),
                    'store_ocpi_last_updated_idx', 'a window over another kind cannot use it');
RESET plan_cache_mode;
RESET enable_seqscan;

SELECT * FROM finish();
ROLLBACK;
