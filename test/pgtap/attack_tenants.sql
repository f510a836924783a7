-- Attack suite: hostile tenants. Real login roles connect through dblink
-- (and, where it matters, the test session takes their identity with SET
-- ROLE) and try to read, forge, change or delete what is not theirs, through
-- direct SQL and through every API function. Each attack asserts the exact
-- SQLSTATE it must get and that nothing changed (a fingerprint of every
-- table of the extension before and after). docs/security.md lists them.
--
-- Not in a transaction: the attackers' connections must see the setup.
-- The database is dropped after the run; the roles are dropped at the end.
SET client_min_messages = warning;
SELECT plan(127);

-- Roles --------------------------------------------------------------------
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['atk_pool', 'atk_nl', 'atk_de', 'atk_site', 'atk_unmapped', 'atk_nobody'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
DELETE FROM sessions.role_namespace WHERE role_name LIKE 'atk\_%';
CREATE ROLE atk_nl LOGIN IN ROLE session_analytics_writer;        -- OCPI party NL-AAA, invoice type online
CREATE ROLE atk_de LOGIN IN ROLE session_analytics_writer;        -- OCPI party DE-BBB, invoice type batch
CREATE ROLE atk_site LOGIN IN ROLE session_analytics_reader;      -- reads the PowerFlex site SITE-1
CREATE ROLE atk_unmapped LOGIN IN ROLE session_analytics_writer;  -- a writer mapped to nothing
CREATE ROLE atk_nobody LOGIN;                                     -- no extension role at all
CREATE ROLE atk_pool LOGIN NOINHERIT IN ROLE atk_nl;              -- connection pool: must SET ROLE first
INSERT INTO sessions.role_namespace VALUES
    ('atk_nl', 'NL-AAA'), ('atk_nl', 'online'), ('atk_de', 'DE-BBB'), ('atk_de', 'batch'), ('atk_site', 'SITE-1');

-- Data of every tenant, written by the owner --------------------------------
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site, user_ref, doc) VALUES
    ('ocpi', 'NL-AAA', 'NLS1', 'ACTIVE', '2024-03-01 10:00+00', NULL, 1, 'LOC-NL', 'nl@example.com', '{"id": "NLS1"}'),
    ('ocpi', 'DE-BBB', 'DES1', 'ACTIVE', '2024-03-01 11:00+00', NULL, 1, 'LOC-DE', 'de@example.com', '{"id": "DES1"}'),
    ('powerflex', 'SITE-1', 'P1', 'FINISHED', '2024-03-01 08:00+00', '2024-03-01 09:00+00', 5, 'SITE-1', 'one@example.com', '{}'),
    ('powerflex', 'SITE-2', 'P2', 'FINISHED', '2024-03-01 09:00+00', '2024-03-01 10:00+00', 7, 'SITE-2', 'two@example.com', '{}');
SELECT sessions.create_session('NL-AAA', identifier => 'nl') AS tel_nl \gset
SELECT sessions.create_session('DE-BBB', identifier => 'de') AS tel_de \gset
SELECT sessions.create_session('DE-BBB', identifier => 'de-child') AS tel_de2 \gset
SELECT sessions.open_session('online', reference => 'INV-NL-1') AS inv_nl \gset
SELECT sessions.open_session('batch', reference => 'INV-DE-1') AS inv_de \gset
SELECT session_key AS inv_de_key FROM sessions.store WHERE kind = 'invoice' AND external_id = 'INV-DE-1' \gset
SELECT session_key AS ocpi_de_key FROM sessions.store WHERE external_id = 'DES1' \gset
SELECT session_key AS ocpi_nl_key FROM sessions.store WHERE external_id = 'NLS1' \gset
DO $$
BEGIN
    PERFORM sessions.add_associate_session(
        (SELECT session_key FROM sessions.store WHERE doc ->> 'identifier' = 'de'),
        (SELECT session_key FROM sessions.store WHERE doc ->> 'identifier' = 'de-child'));
    -- A link across data sources, as only the owner can make it.
    INSERT INTO sessions.telemetry_associate
    SELECT p.session_key, p.namespace, c.session_key, c.namespace
      FROM sessions.store p, sessions.store c
     WHERE p.doc ->> 'identifier' = 'nl' AND c.doc ->> 'identifier' = 'de';
    INSERT INTO sessions.ocpi_charging_preferences (session_key, namespace, preferences)
    SELECT s.session_key, s.namespace, '{"profile_type": "FAST"}' FROM sessions.store s WHERE s.kind = 'ocpi';
    INSERT INTO sessions.invoice_secret (session_key, namespace, owner_role, secret)
    SELECT s.session_key, s.namespace, 'atk_de', '\xdeadbeef' FROM sessions.store s WHERE s.external_id = 'INV-DE-1';
    INSERT INTO sessions.session_lease (session_key, namespace, holder, claimed_at, lease_until)
    SELECT s.session_key, s.namespace, 'de-worker', now(), now() + interval '1 hour'
      FROM sessions.store s WHERE s.external_id = 'INV-DE-1';
    INSERT INTO sessions.import_rejects (source, position, namespace, session_id, reason, row_doc) VALUES
        ('powerflex', 1, 'SITE-1', 'R1', 'session_kwh is missing', '{"user": "one@example.com"}'),
        ('powerflex', 2, 'SITE-2', 'R2', 'session_kwh is missing', '{"user": "two@example.com"}');
END
$$;
INSERT INTO sessions.site (namespace, time_zone, display_name) VALUES
    ('DE-BBB', 'Europe/Berlin', 'DE party'), ('SITE-1', 'America/Los_Angeles', 'Site one'), ('SITE-2', 'America/New_York', 'Site two');

-- Harness ------------------------------------------------------------------
-- A digest of every row of every table of the extension (the owner bypasses
-- row-level security), read in a fresh snapshot.
CREATE FUNCTION pg_temp.fp() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t regclass;
    part text;
    acc text := '';
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
                AND d.deptype = 'e' AND c.relkind = 'r'
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
              ORDER BY 1::text LOOP
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x', '|', '', t)
           INTO part;
        acc := acc || t::text || '=' || part || ';';
    END LOOP;
    RETURN md5(acc);
END
$$;

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['atk_nl', 'atk_de', 'atk_site', 'atk_unmapped', 'atk_nobody', 'atk_pool'] LOOP
        PERFORM dblink_connect(r, format('dbname=%s host=%s port=%s user=%s', current_database(),
                               split_part(current_setting('unix_socket_directories'), ',', 1),
                               current_setting('port'), r));
    END LOOP;
END
$$;

-- attack(role, statement, sqlstate, description): runs the statement on the
-- role's own connection; ok when it ends with exactly that SQLSTATE
-- ('00000' = no error, for RLS-filtered UPDATE/DELETE that reach no row) and
-- no table of the extension changed.
CREATE FUNCTION pg_temp.attack(who text, stmt text, want text, descr text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    before text := pg_temp.fp();
    got text := '00000';
    msg text := '';
    changed boolean;
BEGIN
    BEGIN
        PERFORM dblink_exec(who, stmt);
    EXCEPTION WHEN OTHERS THEN
        got := SQLSTATE;
        msg := SQLERRM;
    END;
    -- A statement list that failed inside BEGIN leaves the attacker's
    -- connection in an aborted transaction: end it (a no-op otherwise).
    PERFORM dblink_exec(who, 'ROLLBACK');
    -- dblink_exec refuses a statement that returns rows, after running it.
    IF got = '2F003' AND msg LIKE '%statement returning results not allowed%' THEN
        got := '00000';
    END IF;
    changed := pg_temp.fp() <> before;
    IF got = want AND NOT changed THEN
        RETURN ok(true, descr);
    END IF;
    RETURN ok(false, descr) || E'\n'
        || diag(format('%s ran: %s', who, stmt)) || E'\n'
        || diag(format('got SQLSTATE %s (%s), want %s; data changed: %s', got, msg, want, changed));
END
$$;

-- peek(role, query): the one bigint a read returns on the role's connection.
CREATE FUNCTION pg_temp.peek(who text, query text) RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT t.n FROM dblink(who, query) AS t(n bigint)
$$;

-- Store: direct SQL ----------------------------------------------------------
SELECT pg_temp.attack('atk_nl', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'DE-BBB', 'FORGED', 'ACTIVE')$$,
                      '42501', 'writer cannot forge a session of another party');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.store SET status = 'COMPLETED' WHERE namespace = 'DE-BBB'$$,
                      '00000', 'writer''s UPDATE of another party''s sessions reaches no row');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.store SET namespace = 'DE-BBB' WHERE external_id = 'NLS1'$$,
                      '42501', 'writer cannot move its own session into another party');
SELECT pg_temp.attack('atk_nl', $$DELETE FROM sessions.store WHERE namespace NOT IN ('NL-AAA', 'online')$$,
                      '00000', 'writer''s DELETE of other tenants'' sessions reaches no row');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.store WHERE namespace NOT IN ('NL-AAA', 'online')$$), 0::bigint,
          'writer reads no session of another tenant');
SELECT pg_temp.attack('atk_nl', 'TRUNCATE sessions.store', '42501', 'writer cannot TRUNCATE the store');
SELECT pg_temp.attack('atk_nl', 'ALTER TABLE sessions.store DISABLE ROW LEVEL SECURITY', '42501',
                      'writer cannot switch row-level security off');
SELECT pg_temp.attack('atk_nl', 'CREATE POLICY atk_all ON sessions.store USING (true)', '42501',
                      'writer cannot add a permissive policy');
SELECT pg_temp.attack('atk_nl', $$CREATE FUNCTION sessions.concat_ws(text, text) RETURNS text LANGUAGE sql AS 'SELECT 1::text'$$,
                      '42501', 'writer cannot plant a function in schema sessions');
SELECT pg_temp.attack('atk_unmapped', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-AAA', 'FORGED', 'ACTIVE')$$,
                      '42501', 'unmapped writer cannot write any namespace');
SELECT is(pg_temp.peek('atk_unmapped', 'SELECT count(*) FROM sessions.store'), 0::bigint, 'unmapped writer reads no session');
SELECT pg_temp.attack('atk_site', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('powerflex', 'SITE-1', 'FORGED', 'X')$$,
                      '42501', 'site reader cannot insert, even into its own site');
SELECT pg_temp.attack('atk_site', $$UPDATE sessions.store SET kwh = 0$$, '42501', 'site reader cannot update');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.store WHERE namespace <> 'SITE-1'$$), 0::bigint,
          'site reader reads only its site');
SELECT pg_temp.attack('atk_nobody', 'SELECT count(*) FROM sessions.store', '42501', 'a role without an extension role cannot read the store');
SELECT pg_temp.attack('atk_nobody', $$SELECT sessions.ocpi_get('DE', 'BBB', 'DES1')$$, '42501',
                      'a role without an extension role cannot call the API');

-- Role map ---------------------------------------------------------------------
SELECT pg_temp.attack('atk_nl', $$INSERT INTO sessions.role_namespace VALUES ('atk_nl', 'DE-BBB')$$, '42501',
                      'writer cannot map itself to another party');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.role_namespace SET namespace = '*'$$, '42501',
                      'writer cannot widen its mapping to every namespace');
SELECT pg_temp.attack('atk_nl', $$DELETE FROM sessions.role_namespace$$, '42501', 'writer cannot delete mappings');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.role_namespace WHERE role_name <> 'atk_nl'$$), 0::bigint,
          'writer sees no other role''s mapping');
SELECT is(pg_temp.peek('atk_site', 'SELECT count(*) FROM sessions.role_namespace'), 1::bigint,
          'site reader sees exactly its own mapping');
SELECT is(pg_temp.peek('atk_unmapped', 'SELECT count(*) FROM sessions.role_namespace'), 0::bigint,
          'unmapped writer sees no mapping');
SELECT is(pg_temp.peek('atk_nl', 'SELECT cardinality(sessions.visible_namespaces())'), 2::bigint,
          'visible_namespaces() still gives the writer its two namespaces');

-- OCPI API -------------------------------------------------------------------------
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(sessions.ocpi_get('DE', 'BBB', 'DES1'))$$), 0::bigint,
          'ocpi_get of another party''s session is NULL');
SELECT is(pg_temp.peek('atk_nl', $$SELECT total_count FROM sessions.ocpi_list(NULL)$$), 1::bigint,
          'ocpi_list counts only the party''s own sessions');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.ocpi_patch('DE', 'BBB', 'DES1', '{"kwh": 9, "last_updated": "2024-03-01T12:00:00Z"}')$$,
                      'P0002', 'ocpi_patch of another party''s session: not found');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.ocpi_put('DE', 'BBB', 'DES2', '{"country_code": "DE", "party_id": "BBB", "id": "DES2",
    "start_date_time": "2024-03-01T10:00:00Z", "kwh": 1.5, "cdr_token": {"country_code": "DE", "party_id": "TST", "uid": "U1",
    "type": "RFID", "contract_id": "DE-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
    "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T10:05:00Z"}')$$,
                      '42501', 'ocpi_put of a session for another party');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.ocpi_put_charging_preferences('DE', 'BBB', 'DES1', '{"profile_type": "FAST"}')$$,
                      'P0002', 'charging preferences of another party''s session: not found');
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.ocpi_charging_preferences (session_key, namespace, preferences)
                                          VALUES (%L, 'DE-BBB', '{"profile_type": "CHEAP"}')$$, :'ocpi_de_key'),
                      '42501', 'writer cannot forge charging preferences of another party');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.ocpi_charging_preferences SET preferences = '{}' WHERE namespace = 'DE-BBB'$$,
                      '00000', 'writer''s UPDATE of another party''s preferences reaches no row');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.ocpi_charging_preferences WHERE namespace <> 'NL-AAA'$$), 0::bigint,
          'writer reads no preferences of another party');

-- Telemetry --------------------------------------------------------------------------
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.telemetry_associate VALUES (%L, 'NL-AAA', %L, 'DE-BBB')$$, :'tel_nl', :'tel_de2'),
                      '42501', 'writer cannot link its session to another data source''s');
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.telemetry_associate VALUES (%L, 'DE-BBB', %L, 'NL-AAA')$$, :'tel_de2', :'tel_nl'),
                      '42501', 'writer cannot link another data source''s session to its own');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.add_associate_session(%L, %L)$$, :'tel_nl', :'tel_de2'),
                      'P0002', 'add_associate_session to another data source''s session: not found');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.add_associate_session(%L, %L)$$, :'tel_de', :'tel_nl'),
                      'P0002', 'add_associate_session on another data source''s session: not found');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.create_session('NL-AAA', associate_keys => ARRAY[%L::uuid])$$, :'tel_de'),
                      'P0002', 'create_session with another data source''s associate: not found, nothing created');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.telemetry_link(ROW(%L::uuid, 'telemetry', 'DE-BBB', NULL, 'LIVE', now(), NULL, NULL,
                                          NULL, NULL, NULL, NULL, NULL, now(), now(), '{}')::sessions.store, %L)$$, :'tel_de', :'tel_nl'),
                      '42501', 'telemetry_link with a forged parent row of another data source');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.end_session(%L)$$, :'tel_de'), 'P0002', 'end_session of another data source''s session');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.update_session_details(%L, '{"x": "y"}')$$, :'tel_de'), 'P0002',
                      'update_session_details of another data source''s session');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.update_session_identifier(%L, 'x')$$, :'tel_de'), 'P0002',
                      'update_session_identifier of another data source''s session');
SELECT pg_temp.attack('atk_nl', format($$SELECT sessions.session_info(%L)$$, :'tel_de'), 'P0002', 'session_info of another data source''s session');
SELECT pg_temp.attack('atk_unmapped', $$SELECT sessions.create_session('DE-BBB')$$, '42501', 'unmapped writer cannot create a telemetry session');
SELECT is(pg_temp.peek('atk_nl', 'SELECT count(*) FROM sessions.telemetry_associate'), 0::bigint,
          'writer sees no link with an end in another data source');
SELECT is(pg_temp.peek('atk_nl', format($$SELECT count(*) FROM sessions.associates(%L)$$, :'tel_de')), 0::bigint,
          'associates() of another data source''s session is empty');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.current_sessions() WHERE data_source <> 'NL-AAA'$$), 0::bigint,
          'current_sessions() lists only the writer''s data source');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.telemetry_daily() WHERE data_source <> 'NL-AAA'$$), 0::bigint,
          'telemetry_daily() counts only the writer''s data source');

-- Invoice-style sessions: secrets, leases, references ---------------------------------
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.invoice_secret (session_key, namespace, secret) VALUES (%L, 'batch', '\x01')$$, :'inv_de_key'),
                      '42501', 'writer cannot squat the secret slot of another type''s session');
SELECT pg_temp.attack('atk_nl', $$INSERT INTO sessions.invoice_secret (session_key, namespace, secret) VALUES (gen_random_uuid(), 'batch', '\x01')$$,
                      '42501', 'a made-up key gets the same 42501: no existence oracle');
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.invoice_secret (session_key, namespace, owner_role, secret)
                                          SELECT session_key, namespace, 'atk_de', '\x01' FROM sessions.store WHERE external_id = %L$$, :'inv_nl'),
                      '42501', 'writer cannot store a secret in another role''s name');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.invoice_secret SET secret = '\x02'$$, '00000',
                      'writer''s UPDATE of another role''s secret reaches no row');
SELECT pg_temp.attack('atk_nl', $$DELETE FROM sessions.invoice_secret$$, '00000', 'writer''s DELETE of another role''s secret reaches no row');
SELECT is(pg_temp.peek('atk_nl', 'SELECT count(*) FROM sessions.invoice_secret'), 0::bigint, 'writer reads no other role''s secret');
SELECT pg_temp.attack('atk_site', 'SELECT count(*) FROM sessions.invoice_secret', '42501', 'a reader cannot read secrets at all');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.set_session_secret('INV-DE-1', '\x01')$$, 'P0002', 'set_session_secret on another type''s session');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(sessions.session_secret('INV-DE-1'))$$), 0::bigint, 'session_secret of another type''s session is NULL');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.session_status('INV-DE-1')$$, 'P0002', 'session_status of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.set_session_status('INV-DE-1', 170)$$, 'P0002', 'set_session_status of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.terminate_session('INV-DE-1')$$, 'P0002', 'terminate_session of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.count_session_item('INV-DE-1', true)$$, 'P0002', 'count_session_item of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.claim_session('INV-DE-1', 'thief', '1 hour')$$, 'P0002', 'claim_session of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.release_session('INV-DE-1', 'de-worker')$$, 'P0002', 'release_session of another type''s lease');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.session_state('INV-DE-1')$$, 'P0002', 'session_state of another type''s session');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.invoice_row('INV-DE-1')$$, 'P0002', 'the invoice_row helper called directly: not found');
SELECT pg_temp.attack('atk_nl', format($$INSERT INTO sessions.session_lease VALUES (%L, 'batch', 'thief', now(), now() + interval '1 day')$$, :'inv_de_key'),
                      '42501', 'writer cannot forge a lease on another type''s session');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.session_lease SET holder = 'thief'$$, '00000', 'writer''s UPDATE of another type''s lease reaches no row');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.open_session('batch')$$, '42501', 'writer cannot open a session of a type it is not mapped to');
SELECT is(pg_temp.peek('atk_nl', $$SELECT jsonb_array_length(items) FROM sessions.list_sessions('batch')$$), 0::bigint,
          'list_sessions of another type is empty');
SELECT pg_temp.attack('atk_nl', $$SELECT * FROM sessions.ocpi_put_many('DE', 'BBB', ARRAY['{"country_code": "DE", "party_id": "BBB", "id": "DES3",
    "start_date_time": "2024-03-01T10:00:00Z", "kwh": 1.5, "cdr_token": {"country_code": "DE", "party_id": "TST", "uid": "U1",
    "type": "RFID", "contract_id": "DE-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
    "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T10:05:00Z"}'::jsonb])$$,
                      '42501', 'ocpi_put_many of sessions for another party');
SELECT pg_temp.attack('atk_nl', $$SELECT * FROM sessions.ocpi_put_many('DE', 'BBB', ARRAY['{"country_code": "DE", "party_id": "BBB", "id": "DES1",
    "start_date_time": "2024-03-01T10:00:00Z", "kwh": 99, "cdr_token": {"country_code": "DE", "party_id": "TST", "uid": "U1",
    "type": "RFID", "contract_id": "DE-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
    "connector_id": "1", "currency": "EUR", "status": "COMPLETED", "last_updated": "2024-03-01T10:05:00Z"}'::jsonb])$$,
                      '42501', 'ocpi_put_many cannot overwrite another party''s existing session');
SELECT is((SELECT string_agg(t.sqlstate || ' ' || t.status_code, ',' ORDER BY t.o)
             FROM dblink('atk_nl', $$SELECT ordinality, sqlstate, status_code FROM sessions.ocpi_put_many('NL', 'AAA', ARRAY['{"country_code": "DE", "party_id": "BBB", "id": "DES1",
    "start_date_time": "2024-03-01T10:00:00Z", "kwh": 99, "cdr_token": {"country_code": "DE", "party_id": "TST", "uid": "U1",
    "type": "RFID", "contract_id": "DE-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
    "connector_id": "1", "currency": "EUR", "status": "COMPLETED", "last_updated": "2024-03-01T10:05:00Z"}'::jsonb])$$)
                  AS t(o int, sqlstate text, status_code int)), '22023 2001',
          'a document of another party inside an own-party ocpi_put_many is refused (URL keys)');
SELECT is((SELECT kwh FROM sessions.store WHERE namespace = 'DE-BBB' AND external_id = 'DES1'), 1::float8,
          'the other party''s session is unchanged after the bulk attempts');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.invoice_sessions WHERE type = 'batch'$$), 0::bigint,
          'invoice_sessions shows no session of another type');
-- The reference another party uses is neither revealed nor blocked: opening
-- it in one's own type succeeds, and the other party's session is untouched.
SELECT is((SELECT n FROM dblink('atk_nl', $$SELECT sessions.open_session('online', reference => 'INV-DE-1')$$) AS t(n text)),
          'INV-DE-1', 'a reference used by another type can be opened: no existence oracle, no squat');
SELECT is(pg_temp.peek('atk_de', $$SELECT (sessions.session_status('INV-DE-1') -> 'status' ->> 'code')::bigint$$), 100::bigint,
          'the other party still reaches its own session by the same reference');

-- PowerFlex, analytics, metrics and events ------------------------------------------------
SELECT pg_temp.attack('atk_nl', $$SELECT * FROM sessions.import_powerflex('[{"session_id": "X1", "session_kwh": 1, "session_start_time": 1700000000000}]', 'DE-BBB')$$,
                      '42501', 'import_powerflex into another tenant''s namespace');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.user_report() WHERE namespace <> 'SITE-1'$$), 0::bigint,
          'user_report() of the site reader shows only its site');
SELECT is(pg_temp.peek('atk_site', $$SELECT sessions FROM sessions.summary_report(NULL)$$), 1::bigint,
          'summary_report() counts only the site reader''s site');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.report_sessions(NULL, NULL, true) WHERE namespace <> 'SITE-1'$$), 0::bigint,
          'report_sessions() (the reports'' selection, also session-report''s) returns no other tenant''s session');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.report_sessions(NULL)$$), 1::bigint,
          'report_sessions() returns the site reader''s own session');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.metric_samples() WHERE data_source NOT IN ('NL-AAA', 'online')$$), 0::bigint,
          'metric_samples() shows no other tenant''s counts');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.events_since(0) WHERE namespace NOT IN ('NL-AAA', 'online')$$), 0::bigint,
          'events_since() returns no event of another tenant');
SELECT pg_temp.attack('atk_nl', 'SELECT sessions.maintenance()', '42501', 'writer cannot run maintenance() (crosses tenants as the owner)');
SELECT pg_temp.attack('atk_nl', 'SELECT sessions.expire_sessions()', '42501', 'writer cannot run expire_sessions()');
SELECT pg_temp.attack('atk_nl', $$BEGIN;
                                  CREATE TEMP TABLE fake (session_key uuid, kind text, namespace text, external_id text, status text,
                                    started_at timestamptz, ended_at timestamptz, last_updated timestamptz);
                                  CREATE TRIGGER t AFTER INSERT ON fake FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
                                  ROLLBACK$$,
                      '42501', 'writer cannot attach sessions.store_events() to its own temp table');

-- Sites: a tenant neither reads nor overwrites another's site ------------------------------
SELECT is(pg_temp.peek('atk_nl', 'SELECT count(*) FROM sessions.site'), 0::bigint,
          'writer reads no site of another tenant');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.site WHERE namespace <> 'SITE-1'$$), 0::bigint,
          'site reader reads only its own site');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.report_time_zone() WHERE site_zones LIKE '%SITE-2%' OR time_zone <> 'America/Los_Angeles'$$), 0::bigint,
          'report_time_zone() of the site reader uses its own site''s zone and names no other site');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.set_site('DE-BBB', 'UTC')$$, '42501',
                      'set_site cannot overwrite another tenant''s site');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.set_site('SITE-9', 'UTC')$$, '42501',
                      'set_site cannot create a site of an unmapped namespace');
SELECT pg_temp.attack('atk_nl', $$INSERT INTO sessions.site (namespace, time_zone) VALUES ('DE-BBB', 'UTC') ON CONFLICT (namespace) DO UPDATE SET time_zone = 'UTC'$$,
                      '42501', 'direct upsert cannot overwrite another tenant''s site');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.site SET time_zone = 'UTC', namespace = 'NL-AAA'$$, '00000',
                      'direct UPDATE reaches no site of another tenant');
SELECT pg_temp.attack('atk_nl', $$DELETE FROM sessions.site$$, '42501', 'writer cannot delete sites');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.ocpi_put_location('DE', 'BBB', '{"id": "L1", "time_zone": "UTC"}')$$, '42501',
                      'ocpi_put_location cannot set another party''s zone');
SELECT pg_temp.attack('atk_site', $$SELECT sessions.set_site('SITE-1', 'UTC')$$, '42501',
                      'a reader cannot change even its own site');
SELECT pg_temp.attack('atk_nl', $$SELECT * FROM sessions.import_powerflex('[{"session_id": "X1", "session_kwh": 1, "session_start_time": 1700000000000, "site": "SITE-2"}]')$$,
                      '42501', 'import_powerflex cannot record a site of another tenant');

-- import_rejects (row-level security by namespace is the PowerFlex area's) -------------------
SELECT is(pg_temp.peek('atk_unmapped', 'SELECT count(*) FROM sessions.import_rejects'), 0::bigint,
          'unmapped writer reads no rejected row of any site');
SELECT is(pg_temp.peek('atk_nl', $$SELECT count(*) FROM sessions.import_rejects WHERE namespace = 'SITE-2'$$), 0::bigint,
          'writer reads no rejected row (with e-mails) of another site');
SELECT pg_temp.attack('atk_unmapped', $$INSERT INTO sessions.import_rejects (source, position, namespace, reason) VALUES ('powerflex', 9, 'SITE-2', 'forged')$$,
                      '42501', 'writer cannot forge a rejected row of another site');
SELECT is((SELECT count(*) FROM dblink('atk_unmapped', 'DELETE FROM sessions.import_rejects RETURNING 1') AS t(n int))
          + (SELECT count(*) FROM sessions.import_rejects) - 2, 0::bigint,
          'writer cannot delete other sites'' rejected rows');

-- Live summaries: a tenant reads only its own, and writes none ------------------------------
SELECT is(pg_temp.peek('atk_site', $$SELECT count(DISTINCT namespace) FILTER (WHERE namespace <> 'SITE-1') FROM sessions.summary_delta$$),
          0::bigint, 'reader sees no summary of another site');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.summary_delta WHERE namespace = 'SITE-1'$$),
          1::bigint, 'reader sees its own site''s summary');
SELECT is(pg_temp.peek('atk_site', $$SELECT sessions FROM sessions.summary_report(NULL)$$), 1::bigint,
          'summary_report from the summaries counts only the reader''s own site');
SELECT is(pg_temp.peek('atk_site', $$SELECT (path = 'summaries')::int::bigint FROM sessions.report_path(NULL)$$), 1::bigint,
          'and it did read the summaries');
SELECT is(pg_temp.peek('atk_site', $$SELECT (sessions.totals(sessions.report_stats(NULL))).sessions$$), 1::bigint,
          'report_stats (the chart''s figures) from the summaries counts only the reader''s own site');
SELECT is(pg_temp.peek('atk_site', $$SELECT count(*) FROM sessions.report_sites(NULL) x(site)
                                     WHERE EXISTS (SELECT FROM sessions.store s WHERE s.site IS NOT DISTINCT FROM x.site)$$), 1::bigint,
          'report_sites from the summaries names the one site of the reader''s session, none of another tenant');
SELECT pg_temp.attack('atk_nl', $$INSERT INTO sessions.summary_delta VALUES ('DE-BBB', 'ocpi', NULL, '2024-03-01', 'UTC', 9, 0, 0, 0, 0, 0, 0, 0, 0, 0)$$,
                      '42501', 'writer cannot forge a summary delta');
SELECT pg_temp.attack('atk_nl', $$UPDATE sessions.summary_delta SET active = 0$$, '42501', 'writer cannot change summaries');
SELECT pg_temp.attack('atk_nl', $$DELETE FROM sessions.summary_delta$$, '42501', 'writer cannot delete summaries');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.rebuild_summaries('DE-BBB')$$, '42501', 'writer cannot rebuild summaries');
SELECT pg_temp.attack('atk_nl', $$SELECT sessions.configure_summaries(false)$$, '42501', 'writer cannot switch summaries off');

-- Every internal function refuses EXECUTE --------------------------------------------------
-- The functions the extension's roles may call; everything else (trigger,
-- aggregate-support, type I/O and token-signing functions, the expiry) is
-- the owner's only. Must agree with test/privileges.approved.
CREATE TABLE pg_temp.callable (proname name, role text);
INSERT INTO pg_temp.callable SELECT unnest(ARRAY[
    'visible_namespaces', 'namespace_visible', 'role_mapped', 'ocpi_get', 'ocpi_list', 'ocpi_validate', 'ocpi_validate_charging_preferences',
    'classify', 'average_power_w', 'average_current_a', 'charge_rating', 'format_duration', 'date_range',
    'analytics_setting', 'analytics_setting_default', 'session_stats_agg', 'rollup', 'days', 'totals', 'report_sessions', 'daily_report', 'summary_report', 'user_report', 'report_stats', 'user_report_rows',
    'check_time_zone', 'report_time_zone', 'report_path', 'summary_stats', 'report_sites', 'summary_settings', 'summary_distributed', 'time_zone_source',
    -- type I/O: the planner checks EXECUTE when it folds a constant cast; both validate hostile input
    'session_stats_in', 'session_stats_out',
    'user_pseudonym', 'anonymize_doc', 'daily_chart_svg', 'powerflex_row_problem',
    'telemetry_details_limit', 'associates', 'parents', 'session_info', 'current_sessions', 'current_sessions_rows', 'telemetry_daily',
    'telemetry_key',
    'invoice_status_name', 'invoice_status_description', 'session_status', 'list_sessions', 'invoice_list_page',
    'session_state', 'resume_session', 'continuation_token', 'continuation_cursor', 'metric_samples', 'metrics',
    'channel_for', 'event_payload', 'events_head', 'events_since', 'events_page', 'events_settled', 'notify_status']), 'reader';
INSERT INTO pg_temp.callable SELECT unnest(ARRAY[
    'ocpi_put', 'ocpi_put_many', 'ocpi_patch', 'ocpi_put_charging_preferences', 'import_powerflex', 'powerflex_rows',
    'set_site', 'site_writable', 'ocpi_put_location',
    'create_session', 'update_session_details', 'update_session_identifier', 'add_associate_session',
    'end_session', 'telemetry_row', 'telemetry_link',
    -- utc_offset type I/O and its casts from the integer types (create_session's second signature)
    'utc_offset_in', 'utc_offset_out', 'utc_offset',
    'invoice_reference', 'open_session', 'set_session_status', 'count_session_item', 'terminate_session',
    'set_session_secret', 'session_secret', 'claim_session', 'release_session', 'invoice_row',
    -- the store's session_key default: a default runs with the inserting role's privileges
    'new_session_key']), 'writer';

-- internal_refusals(role, login, roles): every function of the extension
-- outside the callable lists named by roles, called on login's connection
-- with NULL arguments, must fail with 42501; functions SQL cannot call at
-- all (trigger, internal arguments) are checked in the catalog. Returns the
-- offenders.
CREATE FUNCTION pg_temp.internal_refusals(login text, roles text[]) RETURNS text[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f record;
    got text;
    bad text[] := '{}';
BEGIN
    FOR f IN SELECT p.oid, p.oid::regprocedure::text AS sig, p.proname, p.prorettype, p.proargtypes::oid[] AS args,
                    p.proisstrict AS isstrict
               FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
              WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
                AND p.proname NOT IN (SELECT c.proname FROM pg_temp.callable c WHERE c.role = ANY (roles))
              ORDER BY 2 LOOP
        -- A STRICT function called with NULLs is folded to NULL by the
        -- planner before any privilege check, so the call proves nothing:
        -- for those (and what SQL cannot call) the catalog is the check.
        IF f.prorettype = 'trigger'::regtype OR 'internal'::regtype = ANY (f.args) OR f.isstrict THEN
            IF has_function_privilege(login, f.oid, 'EXECUTE') THEN
                bad := bad || (f.sig || ': EXECUTE granted');
            END IF;
            CONTINUE;
        END IF;
        BEGIN
            PERFORM dblink_exec(login, format('SELECT sessions.%I(%s)', f.proname,
                (SELECT coalesce(string_agg('NULL::' || format_type(a, NULL), ', ' ORDER BY o), '')
                   FROM unnest(f.args) WITH ORDINALITY u(a, o))));
            got := '00000';
        EXCEPTION WHEN OTHERS THEN
            -- 2F003: dblink_exec refusing the rows the call returned, i.e. it ran.
            got := CASE WHEN SQLSTATE = '2F003' THEN 'executed' ELSE SQLSTATE END;
        END;
        IF got <> '42501' THEN
            bad := bad || (f.sig || ': ' || got);
        END IF;
    END LOOP;
    RETURN bad;
END
$$;
SELECT is(pg_temp.internal_refusals('atk_site', ARRAY['reader']), '{}'::text[],
          'a reader gets 42501 from every function that is not a reader''s');
SELECT is(pg_temp.internal_refusals('atk_unmapped', ARRAY['reader', 'writer']), '{}'::text[],
          'a writer gets 42501 from every internal function');

-- SET ROLE and the NOINHERIT pool role ---------------------------------------------------------
SELECT pg_temp.attack('atk_nl', 'SET ROLE atk_de', '42501', 'writer cannot SET ROLE to another party');
SELECT pg_temp.attack('atk_nl', 'SET SESSION AUTHORIZATION atk_de', '42501', 'writer cannot SET SESSION AUTHORIZATION');
SELECT pg_temp.attack('atk_nl', $$SET ROLE session_analytics_writer;
                                  INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-AAA', 'FORGED', 'ACTIVE')$$,
                      '42501', 'SET ROLE to the group role leaves the party''s mapping behind (no namespace at all)');
SELECT pg_temp.attack('atk_pool', 'SELECT count(*) FROM sessions.store', '42501',
                      'NOINHERIT pool role has no privileges before SET ROLE');
SELECT pg_temp.attack('atk_pool', 'SELECT sessions.visible_namespaces()', '42501',
                      'NOINHERIT pool role cannot even call visible_namespaces()');
SELECT pg_temp.attack('atk_pool', 'SET ROLE atk_de', '42501', 'pool role cannot SET ROLE to a party it does not serve');
SELECT is(pg_temp.peek('atk_pool', $$SET ROLE atk_nl; SELECT count(*) FROM sessions.store WHERE namespace NOT IN ('NL-AAA', 'online')$$),
          0::bigint, 'pool role after SET ROLE atk_nl reads no other tenant');
SELECT pg_temp.attack('atk_pool', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'DE-BBB', 'FORGED', 'ACTIVE')$$,
                      '42501', 'pool role acting as atk_nl cannot forge another party''s session');
SELECT lives_ok($$SELECT dblink_exec('atk_pool', 'RESET ROLE')$$, 'pool role resets');

-- The same attacks in this session under SET ROLE.
CREATE FUNCTION pg_temp.explain_store() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXPLAIN (COSTS OFF) SELECT * FROM sessions.store WHERE kwh > 0 LOOP
        RETURN NEXT l;
    END LOOP;
END
$$;
SET ROLE atk_nl;
SELECT throws_ok($$INSERT INTO sessions.role_namespace VALUES ('atk_nl', '*')$$, '42501', NULL, 'SET ROLE writer: cannot write the role map');
SELECT is((SELECT count(*) FROM sessions.role_namespace WHERE role_name <> 'atk_nl'), 0::bigint, 'SET ROLE writer: sees only its mappings');
SELECT throws_ok(format($$INSERT INTO sessions.invoice_secret (session_key, namespace, secret) VALUES (%L, 'batch', '\x01')$$, :'inv_de_key'),
                 '42501', NULL, 'SET ROLE writer: secret squat refused');
SELECT throws_ok(format($$INSERT INTO sessions.telemetry_associate VALUES (%L, 'NL-AAA', %L, 'DE-BBB')$$, :'tel_nl', :'tel_de'),
                 '42501', NULL, 'SET ROLE writer: cross-source link refused');
-- The policy reads the map once per statement (namespace_visible keeps
-- visible_namespaces() in the call site's fn_extra for the execution), not
-- once per row, and without a sub-select (refused by Citus).
SELECT ok(EXISTS (SELECT FROM pg_temp.explain_store() e(line) WHERE e.line LIKE '%namespace_visible(namespace)%')
          AND NOT EXISTS (SELECT FROM pg_temp.explain_store() e(line) WHERE e.line ~ 'InitPlan|SubPlan'),
          'SET ROLE writer: the store policy is the namespace_visible() call');
RESET ROLE;

SELECT is((SELECT count(*) FROM sessions.store WHERE external_id = 'FORGED'), 0::bigint, 'no forged session exists after all attacks');

-- Cleanup -------------------------------------------------------------------------------------
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['atk_nl', 'atk_de', 'atk_site', 'atk_unmapped', 'atk_nobody', 'atk_pool'] LOOP
        PERFORM dblink_disconnect(r);
    END LOOP;
    -- Backends end asynchronously; their roles can be dropped once they have.
    FOR i IN 1 .. 100 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE usename LIKE 'atk\_%');
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
DELETE FROM sessions.role_namespace WHERE role_name LIKE 'atk\_%';
DROP ROLE atk_pool, atk_nl, atk_de, atk_site, atk_unmapped, atk_nobody;

SELECT * FROM finish();
