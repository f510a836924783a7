-- Start/stop events through the API functions of every kind: OCPI PUT/PATCH,
-- PowerFlex import, telemetry create/end, invoice-style open/terminate, expiry
-- (expire_sessions / maintenance), and the notification of an API write.
-- First, sessions.events_page (the catch-up page with its resume bound), read
-- by a tenant over dblink while this transaction has written no event yet.
BEGIN;
SELECT plan(36);

-- ---- sessions.events_page ---------------------------------------------------
CREATE FUNCTION pg_temp.conn(name text, role text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s host=%s port=%s user=%s', current_database(),
                          current_setting('unix_socket_directories'), current_setting('port'), role)) $$;
SELECT pg_temp.conn('evp_su', current_user);
CREATE FUNCTION pg_temp.su(sql text) RETURNS text LANGUAGE sql AS $$ SELECT dblink_exec('evp_su', sql) $$;
CREATE FUNCTION pg_temp.su_val(sql text) RETURNS bigint LANGUAGE sql AS $$
    SELECT v FROM dblink('evp_su', sql) AS t(v bigint) $$;
-- ins(conn, ns, n): n sessions of namespace ns, one statement (one start each).
CREATE FUNCTION pg_temp.ins(c text, ns text, n int) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_exec(c, format($q$INSERT INTO sessions.store (kind, namespace, external_id, status)
        SELECT 'ocpi', %L, 'P' || g || '-' || pg_catalog.gen_random_uuid(), 'ACTIVE' FROM pg_catalog.generate_series(1, %s) g$q$, ns, n)) $$;
-- page(conn, after, ns, max): the seqs of a page ('' for none) and its bound.
CREATE FUNCTION pg_temp.page(c text, after bigint, ns text DEFAULT NULL, m int DEFAULT 1000)
RETURNS TABLE (seqs text, through bigint) LANGUAGE sql AS $$
    SELECT coalesce(string_agg(s::text, ',' ORDER BY i) FILTER (WHERE s IS NOT NULL), ''),
           max(t) FILTER (WHERE s IS NULL)
      FROM dblink(c, format('SELECT (p.ev).seq, p.through, p.i FROM sessions.events_page(%s, %L, %s) WITH ORDINALITY AS p(ev, through, i)',
                            after, ns, m)) AS d(s bigint, t bigint, i bigint) $$;
-- reads(conn): log rows this connection's transaction has read so far.
CREATE FUNCTION pg_temp.reads(c text) RETURNS bigint LANGUAGE sql AS $$
    SELECT v FROM dblink(c, $q$SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::bigint FROM pg_catalog.pg_stat_xact_user_tables
                                WHERE relid = 'sessions.event_log'::regclass$q$) AS t(v bigint) $$;
SELECT pg_temp.su('CREATE ROLE evp_reader LOGIN IN ROLE session_analytics_reader');
SELECT pg_temp.su($$INSERT INTO sessions.role_namespace VALUES ('evp_reader', 'PG-AAA')$$);
SELECT pg_temp.conn('evp_r', 'evp_reader');
SELECT pg_temp.conn('evp_lt', current_user);
SELECT pg_temp.conn('evp_x', current_user);

-- Errors: the same as events_since's.
SELECT throws_ok($$SELECT * FROM sessions.events_page(NULL)$$, '22004', 'after_seq must not be NULL',
                 'events_page: NULL after_seq is 22004');
SELECT throws_ok($$SELECT * FROM sessions.events_page(-1)$$, '22023', 'after_seq must be >= 0, got -1',
                 'events_page: a negative after_seq is 22023');
SELECT throws_ok($$SELECT * FROM sessions.events_page(0, NULL, 0)$$, '22023', 'max_rows must be between 1 and 100000, got 0',
                 'events_page: max_rows 0 is 22023');
SELECT throws_ok($$SELECT * FROM sessions.events_page(0, NULL, 100001)$$, '22023', 'max_rows must be between 1 and 100000, got 100001',
                 'events_page: max_rows above 100000 is 22023');
SELECT throws_ok($$SELECT * FROM sessions.events_page(0, NULL, NULL)$$, '22023', 'max_rows must be between 1 and 100000, got NULL',
                 'events_page: NULL max_rows is 22023');
SAVEPOINT pruned;
UPDATE sessions.event_prune_state SET pruned_through = 5;
SELECT throws_ok($$SELECT * FROM sessions.events_page(4)$$, '22023', 'events after seq 4 are no longer in the log',
                 'events_page: a position below the pruned one is 22023');
SELECT cmp_ok((SELECT through FROM sessions.events_page(5) WHERE ev IS NULL), '>=', 5::bigint,
          'events_page at the pruned position: the bound is never below it');
ROLLBACK TO SAVEPOINT pruned;

-- Happy path: the tenant's one event among 2,500 of another tenant's.
SELECT pg_temp.su_val('SELECT sessions.events_head()') AS h0 \gset
SELECT pg_temp.ins('evp_su', 'PG-AAA', 1);
SELECT pg_temp.su_val($$SELECT max(seq) FROM sessions.event_log WHERE namespace = 'PG-AAA'$$) AS a1 \gset
SELECT pg_temp.ins('evp_su', 'PG-BBB', 2500);
SELECT pg_temp.su_val('SELECT sessions.events_head() / 1000 * 1000') AS settled \gset
SELECT cmp_ok(:settled::bigint, '>', :a1::bigint, 'test setup: the settled bound lies past the tenant''s event');
SELECT is((SELECT seqs FROM pg_temp.page('evp_r', :h0)), :'a1', 'events_page: the tenant gets its own event only');
SELECT is((SELECT through FROM pg_temp.page('evp_r', :h0)), :settled::bigint,
          'events_page: the bound moves past the other tenant''s events, to the settled seq (a multiple of 1000)');
SELECT is((SELECT seqs || '/' || through FROM pg_temp.page('evp_r', :h0, 'PG-AAA')), :'a1' || '/' || :settled,
          'events_page with the namespace: the same page and bound');
SELECT is((SELECT seqs || '/' || through FROM pg_temp.page('evp_r', :h0, NULL, 1)), :'a1' || '/' || :a1,
          'events_page: a full page''s bound is its last seq');
SELECT is((SELECT seqs || '/' || through FROM pg_temp.page('evp_r', :settled)), '/' || :settled,
          'events_page at the bound: nothing, and the bound stays');
SELECT is((SELECT v FROM dblink('evp_r', 'SELECT sessions.events_settled()') AS t(v bigint)), :settled::bigint,
          'events_settled: the global bound rounded down to 1000, for a tenant too');
SELECT is((SELECT v FROM dblink('evp_r', 'SELECT sessions.events_head()') AS t(v bigint)), :a1::bigint,
          'events_head for the tenant is still its own newest event');

-- From the bound, a catch-up reads about 1000 rows at most; from the
-- tenant's own newest event (where the position stayed before), all 2,500.
SELECT dblink_exec('evp_r', 'BEGIN');
SELECT pg_temp.reads('evp_r') AS r0 \gset
SELECT * FROM dblink('evp_r', format('SELECT count(*) FROM sessions.events_page(%s)', :settled)) AS t(n bigint);
SELECT pg_temp.reads('evp_r') AS r1 \gset
SELECT * FROM dblink('evp_r', format('SELECT count(*) FROM sessions.events_since(%s)', :a1)) AS t(n bigint);
SELECT pg_temp.reads('evp_r') AS r2 \gset
SELECT dblink_exec('evp_r', 'COMMIT');
SELECT cmp_ok(:r1::bigint - :r0::bigint, '<=', 1100::bigint, 'events_page from the bound reads at most ~1000 log rows');
SELECT cmp_ok(:r2::bigint - :r1::bigint, '>=', 2500::bigint, 'events_since from the tenant''s newest event reads every other row again');

-- A transaction that wrote an event and stays open keeps the bound below
-- its event, for the tenant and for the owner, however many events follow.
SELECT dblink_exec('evp_lt', 'BEGIN');
SELECT pg_temp.ins('evp_lt', 'PG-AAA', 1);
SELECT * FROM dblink('evp_lt', $$SELECT max(seq) FROM sessions.event_log WHERE namespace = 'PG-AAA'$$) AS t(v bigint) \gset lt_
SELECT pg_temp.ins('evp_su', 'PG-AAA', 1);
SELECT pg_temp.ins('evp_su', 'PG-BBB', 1500);
SELECT pg_temp.su_val($$SELECT max(seq) FROM sessions.event_log WHERE namespace = 'PG-AAA'$$) AS a2 \gset
SELECT is((SELECT seqs FROM pg_temp.page('evp_r', :settled)), '', 'open writing transaction: the later committed event is held back');
SELECT cmp_ok((SELECT through FROM pg_temp.page('evp_r', :settled)), '<', :lt_v::bigint,
              'open writing transaction: the tenant''s bound stays below its event');
SELECT cmp_ok((SELECT through FROM pg_temp.page('evp_su', :settled)), '<', :lt_v::bigint,
              'open writing transaction: the owner''s bound stays below its event too');
SELECT through AS held FROM pg_temp.page('evp_r', :settled) \gset
SELECT dblink_exec('evp_lt', 'COMMIT');
SELECT is((SELECT seqs FROM pg_temp.page('evp_r', :held)),
          :lt_v || ',' || :a2, 'after its commit, from the bound: its event, then the later one, in order');
SELECT cmp_ok((SELECT through FROM pg_temp.page('evp_r', :a2)), '>', :a2::bigint,
              'then the bound moves past the other tenant''s events again');

-- A transaction holding only an xid (no event) does not hold the bound back.
SELECT dblink_exec('evp_x', 'BEGIN');
SELECT * FROM dblink('evp_x', 'SELECT pg_current_xact_id()::text') AS t(x text);
SELECT pg_temp.ins('evp_su', 'PG-AAA', 1);
SELECT pg_temp.su_val($$SELECT max(seq) FROM sessions.event_log WHERE namespace = 'PG-AAA'$$) AS a3 \gset
SELECT is((SELECT seqs FROM pg_temp.page('evp_r', :a2)), :'a3',
          'a transaction holding only an xid: the event after it is delivered');
SELECT dblink_exec('evp_x', 'COMMIT');
-- Every event of the tenant's, once, in order, following the bounds.
CREATE FUNCTION pg_temp.follow(c text, start bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE pos bigint := start; got text := ''; p record;
BEGIN
    FOR i IN 1..50 LOOP
        SELECT * INTO p FROM pg_temp.page(c, pos, NULL, 2);
        IF p.seqs <> '' THEN got := got || p.seqs || ','; END IF;
        EXIT WHEN p.through = pos;
        pos := p.through;
    END LOOP;
    RETURN got;
END $$;
SELECT is(pg_temp.follow('evp_r', :h0),
          (SELECT string_agg(v::text, ',' ORDER BY v) || ',' FROM dblink('evp_su',
              $$SELECT seq FROM sessions.event_log WHERE namespace = 'PG-AAA'$$) AS t(v bigint)),
          'following the bounds with 2-row pages: every event of the tenant''s once, in order');

SELECT dblink_disconnect('evp_r');
SELECT dblink_disconnect('evp_lt');
SELECT dblink_disconnect('evp_x');
SELECT pg_temp.su($$DELETE FROM sessions.role_namespace WHERE role_name = 'evp_reader'$$);
SELECT pg_temp.su('DROP ROLE evp_reader');
SELECT dblink_disconnect('evp_su');

-- The events of one namespace as event:status, in seq order.
CREATE FUNCTION pg_temp.evs(ns text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(event || ':' || status, ',' ORDER BY seq), '')
      FROM sessions.event_log WHERE namespace = ns $$;
CREATE FUNCTION pg_temp.doc(status text, updated text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('country_code', 'NL', 'party_id', 'TNM', 'id', 'api-1',
        'start_date_time', '2024-03-01T10:00:00Z', 'kwh', 0,
        'cdr_token', '{"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID", "contract_id": "NL-TST-C1"}'::jsonb,
        'auth_method', 'WHITELIST', 'location_id', 'LOC1', 'evse_uid', 'E1', 'connector_id', '1',
        'currency', 'EUR', 'status', status, 'last_updated', updated) $$;

-- OCPI
SELECT sessions.ocpi_put('NL', 'TNM', 'api-1', pg_temp.doc('PENDING', '2024-03-01T10:00:00Z'));
SELECT is(pg_temp.evs('NL-TNM'), 'start:PENDING', 'ocpi_put of a new session: start');
SELECT sessions.ocpi_patch('NL', 'TNM', 'api-1', '{"status": "ACTIVE", "last_updated": "2024-03-01T10:01:00Z"}');
SELECT sessions.ocpi_patch('NL', 'TNM', 'api-1', '{"kwh": 3.5, "last_updated": "2024-03-01T10:30:00Z"}');
SELECT is(pg_temp.evs('NL-TNM'), 'start:PENDING,start:ACTIVE', 'ocpi_patch into ACTIVE: start; kWh patch: nothing');
SELECT sessions.ocpi_patch('NL', 'TNM', 'api-1',
    '{"status": "COMPLETED", "end_date_time": "2024-03-01T11:00:00Z", "last_updated": "2024-03-01T11:00:00Z"}');
SELECT is(pg_temp.evs('NL-TNM'), 'start:PENDING,start:ACTIVE,stop:COMPLETED', 'ocpi_patch into COMPLETED: stop');
SELECT sessions.ocpi_put('NL', 'TNM', 'api-2', pg_temp.doc('ACTIVE', '2024-03-01T12:00:00Z') || '{"id": "api-2"}');
SELECT sessions.ocpi_put('NL', 'TNM', 'api-2', pg_temp.doc('INVALID', '2024-03-01T12:05:00Z') || '{"id": "api-2"}');
SELECT is((SELECT string_agg(event || ':' || status, ',' ORDER BY seq) FROM sessions.event_log WHERE external_id = 'API-2'),
          'start:ACTIVE,stop:INVALID', 'ocpi_put replacing a session with INVALID: stop');

-- PowerFlex
SELECT * FROM sessions.import_powerflex('[{"session_id": "pf-1", "session_kwh": 5, "session_start_time": 1757623500418,
    "session_end_time": 1757630700470, "status": "FINISHED", "user": "a@example.com", "site": "pf_site"},
   {"session_id": "pf-2", "session_kwh": 1, "session_start_time": 1757623500418,
    "session_end_time": 1757630700470, "status": "FINISHED", "user": null, "site": "pf_site"}]');
SELECT * FROM sessions.import_powerflex('[{"session_id": "pf-1", "session_kwh": 6, "session_start_time": 1757623500418,
    "session_end_time": 1757630700470, "status": "FINISHED", "user": "a@example.com", "site": "pf_site"}]');
SELECT is(pg_temp.evs('pf_site'), 'start:FINISHED,start:FINISHED', 'import_powerflex: start per new session, none on re-import');

-- Telemetry
SELECT sessions.create_session('TelemetrySource') AS k \gset
SELECT is(pg_temp.evs('TelemetrySource'), 'start:LIVE', 'create_session: start');
SELECT sessions.end_session(:'k', 'TelemetrySource');
SELECT is(pg_temp.evs('TelemetrySource'), 'start:LIVE,stop:ENDED', 'end_session: stop');

-- Invoice-style
SELECT sessions.open_session('online') AS r \gset
SELECT sessions.terminate_session(:'r');
SELECT is((SELECT string_agg(event, ',' ORDER BY seq) FROM sessions.event_log WHERE external_id = :'r'),
          'start,stop', 'open_session: start; terminate_session: stop');

-- Expiry (the worker runs maintenance(), which runs expire_sessions()).
SELECT sessions.open_session('batch') AS rb \gset
SELECT sessions.create_session('ExpiringSource', valid_until => now() + interval '1 hour') AS ke \gset
UPDATE sessions.store SET valid_until = now() - interval '1 minute' WHERE external_id = :'rb' OR session_key = :'ke';
SELECT ok((sessions.maintenance() -> 'events_pruned') IS NOT NULL, 'maintenance() prunes events too');
SELECT is((SELECT string_agg(event || ':' || status, ',' ORDER BY seq) FROM sessions.event_log WHERE external_id = :'rb'),
          (SELECT 'start:' || (SELECT status FROM sessions.event_log WHERE external_id = :'rb' AND event = 'start') || ',stop:EXPIRED'),
          'expired invoice-style session: stop');
SELECT is(pg_temp.evs('ExpiringSource'), 'start:LIVE,stop:EXPIRED', 'expired telemetry session: stop');

-- An API write, committed, is notified.
SELECT dblink_connect('w', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_connect('l', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('l', 'LISTEN sessions_start');
SELECT * FROM dblink('w', $$SELECT sessions.create_session('NotifiedSource')::text$$) AS t(k text);
CREATE FUNCTION pg_temp.wait_note() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR i IN 1..500 LOOP
        FOR r IN SELECT * FROM dblink_get_notify('l') LOOP RETURN r.extra::json ->> 'namespace'; END LOOP;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN NULL;
END $$;
SELECT is(pg_temp.wait_note(), 'NotifiedSource', 'create_session through the API notifies sessions_start');
SELECT dblink_disconnect('w');
SELECT dblink_disconnect('l');

SELECT * FROM finish();
ROLLBACK;
