-- Attacks on events and notifications (docs/security.md, "Events and
-- notifications"), each run by a real LOGIN role over dblink: two parties'
-- writers, a party's reader, a role with no extension role. Each asserts the
-- SQLSTATE it is refused with and that nothing changed: the log, the event
-- sequence and the prune state are compared with a snapshot at the end, and
-- the server is still up (the store_events repro used to crash it).
BEGIN;
SELECT plan(42);

CREATE FUNCTION pg_temp.conn(name text, role text) RETURNS text LANGUAGE sql AS $$
    SELECT dblink_connect(name, format('dbname=%s host=%s port=%s user=%s', current_database(),
                          current_setting('unix_socket_directories'), current_setting('port'), role)) $$;
SELECT pg_temp.conn('su', current_user);
CREATE FUNCTION pg_temp.su(sql text) RETURNS text LANGUAGE sql AS $$ SELECT dblink_exec('su', sql) $$;

-- Roles (cluster-wide, so created and dropped by the autocommit connection).
SELECT pg_temp.su('CREATE ROLE atk_ev_w1 LOGIN IN ROLE session_analytics_writer');
SELECT pg_temp.su('CREATE ROLE atk_ev_w2 LOGIN IN ROLE session_analytics_writer');
SELECT pg_temp.su('CREATE ROLE atk_ev_r1 LOGIN IN ROLE session_analytics_reader');
SELECT pg_temp.su('CREATE ROLE atk_ev_none LOGIN');
SELECT pg_temp.su('CREATE ROLE atk_ev_unmapped LOGIN IN ROLE session_analytics_writer');
SELECT pg_temp.su($$INSERT INTO sessions.role_namespace VALUES ('atk_ev_w1', 'EV-AAA'), ('atk_ev_r1', 'EV-AAA'), ('atk_ev_w2', 'EV-BBB')$$);
-- A schema of the first writer's own, with a real table in it.
SELECT pg_temp.su('CREATE SCHEMA atk_ev AUTHORIZATION atk_ev_w1');
SELECT pg_temp.conn('w1', 'atk_ev_w1');
SELECT pg_temp.conn('w2', 'atk_ev_w2');
SELECT pg_temp.conn('r1', 'atk_ev_r1');
SELECT pg_temp.conn('none', 'atk_ev_none');
SELECT pg_temp.conn('um', 'atk_ev_unmapped');

-- Some events of each party.
SELECT dblink_exec('w1', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'EV-AAA', 'A1', 'ACTIVE')$$);
SELECT dblink_exec('w2', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'EV-BBB', 'B1', 'ACTIVE')$$);
SELECT dblink_exec('w2', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'EV-BBB', 'B2', 'COMPLETED')$$);

-- What must not change.
CREATE TEMP TABLE before AS
SELECT (SELECT pg_catalog.count(*) FROM sessions.event_log) AS n,
       (SELECT pg_catalog.max(seq) FROM sessions.event_log) AS top,
       (SELECT last_value FROM sessions.event_seq) AS seq,
       (SELECT pruned_through FROM sessions.event_prune_state) AS pruned;

-- ---- 1-6: attaching store_events() to a table of one's own --------------------
SELECT dblink_exec('w1', $$CREATE TEMP TABLE fake (session_key uuid, kind text, namespace text, external_id text, status text,
                           started_at timestamptz, ended_at timestamptz, last_updated timestamptz)$$);
SELECT dblink_exec('w1', 'CREATE TEMP SEQUENCE event_seq');
SELECT dblink_exec('w1', $$CREATE TEMP VIEW event_log AS SELECT 1::bigint a,''::text b,''::text c,''::text d,gen_random_uuid() e,
                           ''::text f,''::text g,now() h,now() i,'1'::xid8 j$$);
SELECT throws_ok($$SELECT dblink_exec('w1', 'CREATE TRIGGER t AFTER INSERT ON fake FOR EACH ROW EXECUTE FUNCTION sessions.store_events()')$$,
                 '42501', NULL, 'attack 1: the issue''s repro as a writer: CREATE TRIGGER refused (no EXECUTE on store_events)');
SELECT lives_ok($$SELECT dblink_exec('w1', 'INSERT INTO fake VALUES (gen_random_uuid(),''ocpi'',''NL-AAA'',''X'',''ACTIVE'',now(),NULL,now())')$$,
                'attack 1: the insert that crashed the server runs without the trigger');
SELECT throws_ok($$SELECT dblink_exec('w1', 'CREATE TRIGGER t BEFORE INSERT ON fake FOR EACH ROW EXECUTE FUNCTION sessions.store_events()')$$,
                 '42501', NULL, 'attack 2: as a BEFORE trigger: refused');
SELECT throws_ok($$SELECT dblink_exec('w1', 'CREATE TRIGGER t AFTER INSERT ON fake FOR EACH STATEMENT EXECUTE FUNCTION sessions.store_events()')$$,
                 '42501', NULL, 'attack 3: as a statement trigger: refused');
SELECT dblink_exec('w1', 'CREATE TABLE atk_ev.real (LIKE sessions.store)');
SELECT throws_ok($$SELECT dblink_exec('w1', 'CREATE TRIGGER t AFTER INSERT ON atk_ev.real FOR EACH ROW EXECUTE FUNCTION sessions.store_events()')$$,
                 '42501', NULL, 'attack 4: on a real table of the writer''s own schema: refused');
SELECT dblink_exec('w1', 'CREATE TABLE atk_ev.store (LIKE sessions.store INCLUDING ALL)');
SELECT dblink_exec('w1', 'CREATE SEQUENCE atk_ev.event_seq');
SELECT dblink_exec('w1', 'CREATE TABLE atk_ev.event_log (LIKE sessions.event_log)');
SELECT throws_ok($$SELECT dblink_exec('w1', 'CREATE TRIGGER t AFTER INSERT ON atk_ev.store FOR EACH ROW EXECUTE FUNCTION sessions.store_events()')$$,
                 '42501', NULL, 'attack 5: on a clone of sessions.store with its own event_seq and event_log: refused');
SELECT throws_ok($$SELECT dblink_exec('w1', $q$CREATE FUNCTION atk_ev.ev() RETURNS trigger LANGUAGE c AS '$libdir/session_analytics', 'sa_store_events'$q$)$$,
                 '42501', NULL, 'attack 6: declaring the C symbol under another name: refused (C is untrusted)');

-- ---- 7-9: the same attaches by a superuser: the trigger refuses, no crash -------
-- (in a savepoint, rolled back: its locks would block the clean-up)
SAVEPOINT su_attach;
CREATE TEMP TABLE fake (session_key uuid, kind text, namespace text, external_id text, status text,
                        started_at timestamptz, ended_at timestamptz, last_updated timestamptz);
CREATE TEMP SEQUENCE event_seq;
CREATE TEMP VIEW event_log AS SELECT 1::bigint a,''::text b,''::text c,''::text d,gen_random_uuid() e,''::text f,''::text g,now() h,now() i,'1'::xid8 j;
CREATE TRIGGER t AFTER INSERT ON fake FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SET LOCAL search_path = pg_temp, public;
SELECT throws_ok($$INSERT INTO fake VALUES (gen_random_uuid(),'ocpi','NL-AAA','X','ACTIVE',now(),NULL,now())$$,
                 '42809', NULL, 'attack 7: the repro attached by a superuser (pg_temp first in search_path): the trigger''s own error');
RESET search_path;
SELECT is((SELECT pg_catalog.count(*) FROM pg_temp.fake), 0::bigint, 'attack 7: nothing stored in the fake table');
CREATE TRIGGER t AFTER INSERT ON atk_ev.store FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$INSERT INTO atk_ev.store (kind, namespace, status) VALUES ('ocpi', 'EV-AAA', 'ACTIVE')$$,
                 '42809', NULL, 'attack 8: a clone named store, with event_log and event_seq beside it: refused');
SELECT is((SELECT pg_catalog.count(*) FROM atk_ev.event_log), 0::bigint, 'attack 8: the clone''s log stays empty');
CREATE TRIGGER t AFTER UPDATE ON sessions.role_namespace FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$UPDATE sessions.role_namespace SET namespace = namespace WHERE role_name = 'atk_ev_w1'$$,
                 '42809', NULL, 'attack 9: on another table of the extension''s own schema: refused');
-- A table named like a Citus shard of the store, in the extension's own
-- schema: without Citus's metadata recording it as one, refused too.
CREATE TABLE sessions.store_102008 (LIKE sessions.store INCLUDING DEFAULTS);
CREATE TRIGGER t AFTER INSERT ON sessions.store_102008 FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$INSERT INTO sessions.store_102008 (kind, namespace, status) VALUES ('ocpi', 'EV-SHARD', 'ACTIVE')$$,
                 '42809', NULL, 'attack 9b: a table named like a shard of the store (store_<digits>), no Citus shard: refused');
SELECT is((SELECT pg_catalog.count(*) FROM sessions.event_log WHERE namespace = 'EV-SHARD'), 0::bigint,
          'attack 9b: nothing logged for it');
ROLLBACK TO SAVEPOINT su_attach;

-- ---- 10-14: internal functions ---------------------------------------------------
SELECT is((SELECT pg_catalog.count(*)::int FROM (VALUES ('atk_ev_w1'), ('atk_ev_r1'), ('atk_ev_none'),
                ('session_analytics_writer'), ('session_analytics_reader'), ('public')) r(role)
            WHERE pg_catalog.has_function_privilege(r.role, 'sessions.store_events()', 'EXECUTE')), 0,
          'attack 10: no role but the owner may execute store_events()');
SELECT throws_ok($$SELECT * FROM dblink('r1', 'SELECT sessions.prune_events()') AS t(n bigint)$$,
                 '42501', NULL, 'attack 11: a reader cannot prune the log (prune_events is SECURITY DEFINER)');
SELECT throws_ok($$SELECT * FROM dblink('none', 'SELECT sessions.prune_events()') AS t(n bigint)$$,
                 '42501', NULL, 'attack 12: a role with no extension role cannot prune');
SELECT throws_ok($$SELECT * FROM dblink('none', 'SELECT sessions.events_head()') AS t(n bigint)$$,
                 '42501', NULL, 'attack 13: a role with no extension role cannot read the head');
SELECT throws_ok($$SELECT * FROM dblink('none', 'SELECT seq FROM sessions.events_since(0)') AS t(n bigint)$$,
                 '42501', NULL, 'attack 14: nor catch up');
SELECT throws_ok($$SELECT * FROM dblink('none', 'SELECT through FROM sessions.events_page(0)') AS t(n bigint)$$,
                 '42501', NULL, 'attack 14b: nor catch up by pages');
SELECT throws_ok($$SELECT * FROM dblink('none', 'SELECT sessions.events_settled()') AS t(n bigint)$$,
                 '42501', NULL, 'attack 14c: nor read the settled bound');

-- ---- 15-18: reading other tenants' events ---------------------------------------
SELECT is((SELECT n FROM dblink('r1', $$SELECT pg_catalog.count(*) FROM sessions.event_log WHERE namespace = 'EV-BBB'$$) AS t(n bigint)),
          0::bigint, 'attack 15: a reader sees no event of another party in the log');
SELECT is((SELECT pg_catalog.string_agg(ns, ',') FROM dblink('r1', 'SELECT DISTINCT namespace FROM sessions.events_since(0)') AS t(ns text)),
          'EV-AAA', 'attack 16: events_since returns only the reader''s own party');
SELECT is((SELECT h FROM dblink('r1', 'SELECT sessions.events_head()') AS t(h bigint)),
          (SELECT pg_catalog.max(seq) FROM sessions.event_log WHERE namespace = 'EV-AAA'),
          'attack 17: events_head() gives a reader its own newest event, not the global count');
SELECT cmp_ok((SELECT h FROM dblink('r1', 'SELECT sessions.events_head()') AS t(h bigint)), '<',
              (SELECT pg_catalog.max(seq) FROM sessions.event_log), 'attack 17: ... which is below the global head here');
SELECT is((SELECT h FROM dblink('w2', 'SELECT sessions.events_head()') AS t(h bigint)),
          (SELECT pg_catalog.max(seq) FROM sessions.event_log WHERE namespace = 'EV-BBB'),
          'attack 18: the other party''s writer gets its own head');

SELECT is((SELECT h FROM dblink('um', 'SELECT sessions.events_head()') AS t(h bigint)),
          (SELECT pruned_through FROM sessions.event_prune_state),
          'attack 25: an unmapped writer''s head is the pruned position, not the global count');
SELECT is((SELECT n FROM dblink('um', 'SELECT pg_catalog.count(*) FROM sessions.events_since(0)') AS t(n bigint)),
          0::bigint, 'attack 25: and it catches up on nothing');
-- The page bound: the seq of a tenant's own event or a multiple of 1000,
-- never the global count (here below 1000: the settled bound is 0).
SELECT is((SELECT pg_catalog.string_agg(ns, ',') FROM dblink('r1',
              'SELECT DISTINCT (p.ev).namespace FROM sessions.events_page(0) AS p WHERE (p.ev).seq IS NOT NULL') AS t(ns text)),
          'EV-AAA', 'attack 26: events_page returns only the reader''s own party''s events');
SELECT is((SELECT b FROM dblink('r1', 'SELECT through FROM sessions.events_page(0) WHERE ev IS NULL') AS t(b bigint)),
          (SELECT pg_catalog.max(seq) FROM sessions.event_log WHERE namespace = 'EV-AAA'),
          'attack 26: its bound is the reader''s own newest event, not the global head');
SELECT is((SELECT b FROM dblink('um', 'SELECT sessions.events_settled()') AS t(b bigint)) OPERATOR(pg_catalog.%) 1000, 0::bigint,
          'attack 27: events_settled() is a multiple of 1000 (not the global count)');

-- ---- 19-24: forging the log ------------------------------------------------------
SELECT throws_ok($$SELECT dblink_exec('w1', $q$INSERT INTO sessions.event_log (seq, event, kind, namespace, session_key, status, horizon)
                   VALUES (999999, 'start', 'ocpi', 'EV-BBB', gen_random_uuid(), 'ACTIVE', '1')$q$)$$,
                 '42501', NULL, 'attack 19: a writer cannot insert a forged event');
SELECT throws_ok($$SELECT dblink_exec('w1', $q$UPDATE sessions.event_log SET status = 'X'$q$)$$,
                 '42501', NULL, 'attack 20: nor change logged events');
SELECT throws_ok($$SELECT dblink_exec('w1', 'DELETE FROM sessions.event_log')$$,
                 '42501', NULL, 'attack 21: nor delete them');
SELECT throws_ok($$SELECT * FROM dblink('w1', $q$SELECT pg_catalog.nextval('sessions.event_seq')$q$) AS t(n bigint)$$,
                 '42501', NULL, 'attack 22: nor take event numbers (nextval)');
SELECT throws_ok($$SELECT * FROM dblink('w1', $q$SELECT pg_catalog.setval('sessions.event_seq', 1)$q$) AS t(n bigint)$$,
                 '42501', NULL, 'attack 23: nor move the sequence (setval)');
SELECT throws_ok($$SELECT dblink_exec('w1', 'UPDATE sessions.event_prune_state SET pruned_through = 0')$$,
                 '42501', NULL, 'attack 24: nor the prune position');

-- ---- nothing changed ---------------------------------------------------------------
SELECT is((SELECT pg_catalog.count(*) FROM sessions.event_log), (SELECT n FROM before), 'the log has the same number of events');
SELECT is((SELECT pg_catalog.max(seq) FROM sessions.event_log), (SELECT top FROM before), 'and the same newest event');
SELECT is((SELECT last_value FROM sessions.event_seq), (SELECT seq FROM before), 'the event sequence did not move');
SELECT is((SELECT pruned_through FROM sessions.event_prune_state), (SELECT pruned FROM before), 'the prune position did not move');
-- The real store still logs events.
SELECT dblink_exec('w1', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'EV-AAA', 'A2', 'ACTIVE')$$);
SELECT is((SELECT pg_catalog.string_agg(event || ':' || status, ',') FROM sessions.event_log WHERE external_id = 'A2'),
          'start:ACTIVE', 'the store trigger still logs events');

SELECT dblink_exec('w1', 'DISCARD TEMP');
SELECT dblink_disconnect('w1');
SELECT dblink_disconnect('w2');
SELECT dblink_disconnect('r1');
SELECT dblink_disconnect('none');
SELECT dblink_disconnect('um');
SELECT pg_temp.su('DROP SCHEMA atk_ev CASCADE');
SELECT pg_temp.su($$DELETE FROM sessions.role_namespace WHERE role_name LIKE 'atk\_ev\_%'$$);
SELECT pg_temp.su('DROP ROLE atk_ev_w1');
SELECT pg_temp.su('DROP ROLE atk_ev_w2');
SELECT pg_temp.su('DROP ROLE atk_ev_r1');
SELECT pg_temp.su('DROP ROLE atk_ev_none');
SELECT pg_temp.su('DROP ROLE atk_ev_unmapped');
SELECT dblink_disconnect('su');
SELECT * FROM finish();
ROLLBACK;
