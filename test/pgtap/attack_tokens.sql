-- Attacks on continuation tokens and state documents (issue 9; docs/security.md,
-- "Tokens and state documents"). The attackers are real login roles over
-- dblink, and the same roles under SET ROLE: an online reader, an online
-- writer, a batch reader and a role with no extension role. Each attack uses
-- every signing means the extension offers the role (before the fix, the
-- SECURITY DEFINER sessions.lifecycle_mac granted to readers; now none, so
-- the attacker can only guess a key) and asserts the SQLSTATE and that
-- neither the store, the leases, the role map nor the signing key changed.
-- 27 of the attacks succeeded (or got another answer) on the code before the
-- fix; the others were refused before too and guard against regressions
-- (the "before" column of the table in docs/security.md).
BEGIN;
SELECT plan(43);

CREATE FUNCTION pg_temp.conninfo(r text, db text DEFAULT current_database()) RETURNS text LANGUAGE sql AS $$
    SELECT format('host=%s port=%s dbname=%s user=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
                  current_setting('port'), db, r)
$$;

-- Roles, mappings and sessions, committed by a superuser connection so
-- every connection sees them.
DO $$
BEGIN
    PERFORM dblink_connect('adm', pg_temp.conninfo(current_user));
    PERFORM dblink_exec('adm', $q$
        DROP ROLE IF EXISTS atk_tok_reader, atk_tok_writer, atk_tok_batch, atk_tok_norole;
        CREATE ROLE atk_tok_reader LOGIN IN ROLE session_analytics_reader;
        CREATE ROLE atk_tok_writer LOGIN IN ROLE session_analytics_writer;
        CREATE ROLE atk_tok_batch LOGIN IN ROLE session_analytics_reader;
        CREATE ROLE atk_tok_norole LOGIN;
        INSERT INTO sessions.role_namespace VALUES
            ('atk_tok_reader', 'online'), ('atk_tok_writer', 'online'), ('atk_tok_batch', 'batch');
        DO $d$ BEGIN
            PERFORM sessions.open_session('online', reference => 'atk-on-' || g) FROM generate_series(1, 4) g;
            PERFORM sessions.open_session('batch', reference => 'atk-b-' || g) FROM generate_series(1, 3) g;
        END $d$;
    $q$);
END
$$;

-- What an attacker defines in its own session: a signature by whatever
-- function the extension offers it, else an HMAC under a key it made up;
-- a state document or a token re-signed after it changed them.
CREATE FUNCTION pg_temp.forger() RETURNS text LANGUAGE sql AS $f$ SELECT $forger$
CREATE FUNCTION pg_temp.sig(purpose text, payload text) RETURNS text LANGUAGE plpgsql AS $s$
DECLARE
    s text;
BEGIN
    IF pg_catalog.to_regprocedure('sessions.lifecycle_mac(text,text)') IS NOT NULL THEN
        EXECUTE 'SELECT sessions.lifecycle_mac($1, $2)' INTO s USING purpose, payload;
        RETURN s;
    END IF;
    RETURN pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to('a guessed key' || purpose || payload, 'UTF8')), 'hex');
END
$s$;
CREATE FUNCTION pg_temp.forge_state(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $s$
DECLARE
    payload text := (d - 'signature')::text;
BEGIN
    IF pg_catalog.to_regprocedure('sessions.state_payload(integer,text,text,uuid,timestamptz,timestamptz)') IS NOT NULL THEN
        EXECUTE $q$SELECT sessions.state_payload(($1 ->> 'format_version')::int, $1 ->> 'reference', $1 ->> 'type',
                       ($1 ->> 'session_key')::uuid, ($1 ->> 'date_created')::timestamptz, ($1 ->> 'valid_until')::timestamptz)$q$
           INTO payload USING d;
    END IF;
    RETURN d || pg_catalog.jsonb_build_object('signature', pg_temp.sig('state', payload));
END
$s$;
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS $s$
    SELECT pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(b, 'base64'), E'+/\n', '-_'), '=')
$s$;
CREATE FUNCTION pg_temp.payload(tok text) RETURNS jsonb LANGUAGE sql AS $s$
    SELECT pg_catalog.convert_from(pg_catalog.decode(pg_catalog.translate(pg_catalog.split_part(tok, '.', 1), '-_', '+/')
        || pg_catalog.repeat('=', (4 - pg_catalog.length(pg_catalog.split_part(tok, '.', 1)) % 4) % 4), 'base64'), 'UTF8')::jsonb
$s$;
CREATE FUNCTION pg_temp.forge_token(p jsonb) RETURNS text LANGUAGE sql AS $s$
    SELECT pg_temp.b64url(pg_catalog.convert_to(p::text, 'UTF8')) || '.' || pg_temp.sig('page', p::text)
$s$;
$forger$ $f$;
SELECT pg_temp.forger() AS forger \gset
:forger

DO $$
BEGIN
    PERFORM dblink_connect('r', pg_temp.conninfo('atk_tok_reader'));
    PERFORM dblink_connect('w', pg_temp.conninfo('atk_tok_writer'));
    PERFORM dblink_connect('b', pg_temp.conninfo('atk_tok_batch'));
    PERFORM dblink_connect('n', pg_temp.conninfo('atk_tok_norole'));
    PERFORM dblink_exec(c, pg_temp.forger()) FROM unnest(ARRAY['r', 'w', 'b']) c;
END
$$;

-- What the attackers were legitimately given.
SELECT t.s AS st1 FROM dblink('r', $$SELECT sessions.session_state('atk-on-1')::text$$) t(s text) \gset
SELECT t.s AS st2 FROM dblink('r', $$SELECT sessions.session_state('atk-on-2')::text$$) t(s text) \gset
SELECT t.s AS stb FROM dblink('b', $$SELECT sessions.session_state('atk-b-1')::text$$) t(s text) \gset
SELECT t.s AS tok FROM dblink('r', $$SELECT continuation FROM sessions.list_sessions('online', page_size => 1)$$) t(s text) \gset
SELECT ok(:'st1' IS NOT NULL AND :'stb' IS NOT NULL AND :'tok' IS NOT NULL, 'the attackers hold genuine documents and a token');

-- A copy of this database (CREATE DATABASE ... TEMPLATE, a file-level copy)
-- holds the same key and rows; its documents and tokens must not count here.
DO $$
BEGIN
    PERFORM dblink_exec('adm', 'DROP DATABASE IF EXISTS atk_tok_other');
    PERFORM dblink_exec('adm', 'CREATE DATABASE atk_tok_other');
    PERFORM dblink_connect('oadm', pg_temp.conninfo(current_user, 'atk_tok_other'));
    PERFORM dblink_exec('oadm', 'CREATE EXTENSION session_analytics');
    PERFORM dblink_exec('oadm', format($q$
        DELETE FROM sessions.lifecycle_key;
        INSERT INTO sessions.lifecycle_key SELECT * FROM pg_catalog.jsonb_populate_record(NULL::sessions.lifecycle_key, %L);
        INSERT INTO sessions.store SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::sessions.store, %L);
        INSERT INTO sessions.role_namespace VALUES ('atk_tok_reader', 'online');
    $q$, (SELECT to_jsonb(k) FROM sessions.lifecycle_key k),
         (SELECT jsonb_agg(s) FROM sessions.store s WHERE s.kind = 'invoice')));
    PERFORM dblink_connect('or', pg_temp.conninfo('atk_tok_reader', 'atk_tok_other'));
END
$$;
SELECT t.s AS st_other FROM dblink('or', $$SELECT sessions.session_state('atk-on-1')::text$$) t(s text) \gset
SELECT t.s AS tok_other FROM dblink('or', $$SELECT continuation FROM sessions.list_sessions('online', page_size => 1)$$) t(s text) \gset
SELECT is((SELECT k::text FROM sessions.lifecycle_key k), (SELECT k FROM dblink('oadm', 'SELECT k::text FROM sessions.lifecycle_key k') t(k text)),
          'the copy signs with the same key');

-- Runs sql as a role: over its dblink connection (remote) or here under SET
-- ROLE (local); returns the SQLSTATE, 00000 when it succeeded.
CREATE FUNCTION pg_temp.remote(conn text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    -- dblink_exec runs no query that returns rows: a SELECT runs in a DO block.
    PERFORM dblink_exec(conn, CASE WHEN sql ~* '^\s*SELECT' THEN 'DO ' || quote_literal('BEGIN PERFORM * FROM (' || sql || ') x; END')
                                   ELSE sql END);
    RETURN '00000';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
CREATE FUNCTION pg_temp.local(r text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text := '00000';
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        EXECUTE sql;
    EXCEPTION WHEN OTHERS THEN
        st := SQLSTATE;
    END;
    RESET ROLE;
    RETURN st;
END
$$;
-- Everything an attack could change.
CREATE FUNCTION pg_temp.digest() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat((SELECT string_agg(s::text, ';' ORDER BY s.session_key, s.namespace) FROM sessions.store s), '|',
                      (SELECT string_agg(k::text, ';') FROM sessions.lifecycle_key k), '|',
                      (SELECT string_agg(l::text, ';' ORDER BY l.session_key, l.namespace) FROM sessions.session_lease l), '|',
                      (SELECT string_agg(m::text, ';' ORDER BY m.role_name, m.namespace) FROM sessions.role_namespace m)))
$$;
-- One attack: its SQLSTATE, and nothing changed.
CREATE FUNCTION pg_temp.attack(who text, sql text, want text, what text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.digest();
    got text;
BEGIN
    got := CASE WHEN who LIKE 'atk\_tok\_%' THEN pg_temp.local(who, sql) ELSE pg_temp.remote(who, sql) END;
    RETURN is(got || CASE WHEN pg_temp.digest() IS DISTINCT FROM before THEN ', and something changed' ELSE '' END,
              want, what);
END
$$;

-- A state document attack: resumes doc as given (patch NULL) or doc || patch
-- re-signed by the attacker's own forge_state.
CREATE FUNCTION pg_temp.attack_state(who text, doc text, patch jsonb, want text, what text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.attack(who, CASE WHEN patch IS NULL THEN format($q$SELECT sessions.resume_session(%L)$q$, doc)
        ELSE format($q$SELECT sessions.resume_session(pg_temp.forge_state(%L::jsonb || %L::jsonb))$q$, doc, patch) END,
        want, what)
$$;
-- A continuation token attack: one page of list_sessions(type, statuses)
-- after tok as given (edit NULL), or after the token the attacker re-signs
-- from tok's payload with the jsonb operator expression edit applied.
CREATE FUNCTION pg_temp.attack_page(who text, type text, statuses int[], tok text, edit text, want text, what text)
RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.attack(who, format($q$SELECT * FROM sessions.list_sessions(%L, %L::int[], page_size => 1, continuation => %s)$q$,
        type, statuses, CASE WHEN edit IS NULL THEN quote_literal(tok)
                             ELSE format('pg_temp.forge_token(pg_temp.payload(%L) %s)', tok, edit) END),
        want, what)
$$;

-- Signing functions: none is left for any role but the owner.
SELECT pg_temp.attack('r', $$SELECT sessions.lifecycle_mac('state', 'anything')$$, '42883', 'reader calls lifecycle_mac: it no longer exists');
SELECT pg_temp.attack('w', $$SELECT sessions.lifecycle_mac('page', 'anything')$$, '42883', 'writer calls lifecycle_mac');
SELECT pg_temp.attack('r', $$SELECT sessions.rotate_lifecycle_key()$$, '42501', 'reader rotates the key');
SELECT pg_temp.attack('w', $$SELECT sessions.rotate_lifecycle_key()$$, '42501', 'writer rotates the key');
SELECT pg_temp.attack('atk_tok_reader', $$SELECT sessions.rotate_lifecycle_key()$$, '42501', 'SET ROLE reader rotates the key');
SELECT pg_temp.attack('r', $$SELECT sessions.lifecycle_key_changed()$$, '42501', 'reader calls the key trigger function');
SELECT pg_temp.attack('r', $$SELECT * FROM sessions.lifecycle_key$$, '42501', 'reader reads the key table');
SELECT pg_temp.attack('w', $$UPDATE sessions.lifecycle_key SET id = 1$$, '42501', 'writer writes the key table');
SELECT pg_temp.attack('r', $$CREATE FUNCTION pg_temp.rot() RETURNS void LANGUAGE c AS 'session_analytics', 'sa_rotate_lifecycle_key'$$,
                      '42501', 'reader binds its own function to the C signing code');
SELECT pg_temp.attack('n', $$SELECT sessions.session_state('atk-on-1')$$, '42501', 'a role with no extension role asks for a state document');

-- State documents changed and re-signed by the attacker.
SELECT pg_temp.attack_state('r', :'st1', '{"valid_until": "2999-01-01T00:00:00+00:00"}',
                      '22023', 'reader moves valid_until to 2999 and re-signs');
SELECT pg_temp.attack_state('w', :'st1', '{"valid_until": "2999-01-01T00:00:00+00:00"}',
                      '22023', 'writer moves valid_until and re-signs');
SELECT pg_temp.attack_state('atk_tok_reader', :'st1', '{"valid_until": "2999-01-01T00:00:00+00:00"}',
                      '22023', 'SET ROLE reader moves valid_until and re-signs');
SELECT pg_temp.attack_state('r', :'st1', '{"reference": "atk-on-2"}',
                      '22023', 'reader points its document at another reference');
SELECT pg_temp.attack_state('r', :'st1', jsonb_build_object('session_key', :'st2'::jsonb ->> 'session_key'),
                      '22023', 'reader swaps in another session''s key');
SELECT pg_temp.attack_state('r', :'st1', '{"type": "batch"}',
                      '22023', 'reader changes the type');
SELECT pg_temp.attack_state('r', :'st1', '{"date_created": "2001-01-01T00:00:00+00:00"}',
                      '22023', 'reader changes date_created');
SELECT pg_temp.attack_state('r', :'st1', '{"format_version": 1}',
                      '0A000', 'reader signs a format_version 1 document (the old scheme)');
SELECT pg_temp.attack_state('r', :'st1', '{"note": "x"}',
                      '22023', 'reader adds a field and re-signs');
SELECT pg_temp.attack_state('r', (:'st1'::jsonb || jsonb_build_object('signature', left(:'st1'::jsonb ->> 'signature', 40)))::text, NULL,
                      '22023', 'reader truncates the signature');
SELECT pg_temp.attack_state('r', :'st_other', NULL, '22023',
                      'reader replays a document of a copy of this database (same key)');
SELECT pg_temp.attack_state('r', :'stb', NULL, 'P0002',
                      'online reader replays the batch reader''s genuine document');
SELECT pg_temp.attack('r', $$SELECT sessions.session_state('atk-b-1')$$, 'P0002', 'online reader asks for a batch session''s document');
CREATE FUNCTION pg_temp.remote_msg(conn text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dblink_exec(conn, 'DO ' || quote_literal('BEGIN PERFORM * FROM (' || sql || ') x; END'));
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT is(pg_temp.remote_msg('r', $$SELECT sessions.session_state('atk-b-1')$$),
          replace(pg_temp.remote_msg('r', $$SELECT sessions.session_state('atk-b-9')$$), 'atk-b-9', 'atk-b-1'),
          'the same answer as for a reference that does not exist');

-- Continuation tokens changed and re-signed by the attacker.
SELECT pg_temp.attack_page('r', 'online', '{100}', :'tok', $$- 'q'$$,
                      '22023', 'reader drops q and replays the token for another query');
SELECT pg_temp.attack_page('r', 'online', '{100}', :'tok', $$|| '{"q": null}'$$,
                      '22023', 'reader sets q to null');
SELECT pg_temp.attack_page('r', 'online', '{100}', :'tok', $$|| jsonb_build_object('q', md5('online|{100}'))$$,
                      '22023', 'reader re-signs the token with the q of another query');
SELECT pg_temp.attack_page('r', 'online', NULL, :'tok', $$|| '{"c": "0", "k": "00000000-0000-0000-0000-000000000000"}'$$,
                      '22023', 'reader moves the cursor');
SELECT pg_temp.attack_page('r', 'online', NULL, :'tok', $$|| '{"x": 1}'$$,
                      '22023', 'reader adds a field');
SELECT pg_temp.attack_page('r', 'batch', NULL, :'tok', $$- 'q'$$,
                      '22023', 'reader drops q and replays an online token for batch');
SELECT pg_temp.attack_page('r', 'batch', NULL, :'tok', NULL,
                      '22023', 'reader replays an online token for batch');
SELECT pg_temp.attack_page('r', 'online', NULL, :'tok_other', NULL,
                      '22023', 'reader replays a token of a copy of this database (same key)');
SELECT pg_temp.attack_page('w', 'online', '{100}', :'tok', $$- 'q'$$,
                      '22023', 'writer drops q');
SELECT pg_temp.attack_page('atk_tok_reader', 'online', '{100}', :'tok', $$- 'q'$$,
                      '22023', 'SET ROLE reader drops q');
SELECT pg_temp.attack_page('r', 'online', NULL, left(:'tok', -1), NULL,
                      '22023', 'reader truncates the signature');
SELECT pg_temp.attack_page('r', 'online', NULL, split_part(:'tok', '.', 1) || '.' || repeat('z', 64), NULL,
                      '22023', 'reader sends a signature that is not hex');
SELECT pg_temp.attack('r', format($$SELECT sessions.continuation_token(md5('x'), 'batch', %L)$$, (SELECT session_key FROM sessions.store WHERE external_id = 'atk-b-1')),
                      'P0002', 'reader asks for a token after a batch session it cannot see');
SELECT pg_temp.attack('b', format($$SELECT sessions.continuation_token(md5('x'), 'online', %L)$$, (SELECT session_key FROM sessions.store WHERE external_id = 'atk-on-1')),
                      'P0002', 'batch reader asks for a token after an online session');
SELECT pg_temp.attack('r', format($$SELECT sessions.continuation_token('not a hash', 'online', %L)$$, (SELECT session_key FROM sessions.store WHERE external_id = 'atk-on-1')),
                      '22023', 'reader asks for a token over a q of its choosing');
SELECT pg_temp.attack('n', format($$SELECT * FROM sessions.list_sessions('online', continuation => %L)$$, :'tok'), '42501',
                      'a role with no extension role pages with a token');

DO $$
BEGIN
    PERFORM dblink_exec(c, 'DISCARD TEMP') FROM unnest(ARRAY['r', 'w', 'b']) c;
    PERFORM dblink_disconnect(c) FROM unnest(ARRAY['r', 'w', 'b', 'n', 'or', 'oadm']) c;
    PERFORM dblink_exec('adm', 'DROP DATABASE atk_tok_other WITH (FORCE)');
    PERFORM dblink_exec('adm', $q$DELETE FROM sessions.role_namespace WHERE role_name LIKE 'atk\_tok\_%'$q$);
    PERFORM dblink_exec('adm', 'DROP ROLE atk_tok_reader, atk_tok_writer, atk_tok_batch, atk_tok_norole');
    PERFORM dblink_disconnect('adm');
END
$$;
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname LIKE 'atk\_tok\_%'), 0::bigint, 'the attack roles are dropped');

SELECT * FROM finish();
ROLLBACK;
