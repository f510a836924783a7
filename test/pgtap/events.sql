-- Start/stop events: derivation from store writes, the log, notifications,
-- coalescing, channel names, events_since ordering, retention.
-- Writes go through dblink connections so they commit (and notify); catch-up
-- reads go through a separate reader connection, since this session holds a
-- transaction id (see docs/notifications.md: a writing transaction reads the
-- log only up to its own start).
BEGIN;
SELECT plan(80);

SELECT dblink_connect('w', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_connect('w2', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_connect('l', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_connect('r', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));

CREATE FUNCTION pg_temp.w(sql text) RETURNS text LANGUAGE sql AS $$ SELECT dblink_exec('w', sql) $$;
-- The events of one session (by external id), as event:status in seq order.
CREATE FUNCTION pg_temp.evs(ext text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(event || ':' || status, ',' ORDER BY seq), '')
      FROM sessions.event_log WHERE external_id = ext $$;
CREATE TEMP TABLE notes (n serial, channel text, payload text);
-- Collects notifications on connection l until one on channel upto arrives
-- (or 5 s pass); returns how many were collected.
CREATE FUNCTION pg_temp.collect(upto text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    got int := 0;
    r record;
    deadline timestamptz := clock_timestamp() + interval '5 s';
BEGIN
    DELETE FROM notes;
    LOOP
        FOR r IN SELECT * FROM dblink_get_notify('l') LOOP
            INSERT INTO notes (channel, payload) VALUES (r.notify_name, r.extra);
            got := got + 1;
            IF r.notify_name = upto THEN RETURN got; END IF;
        END LOOP;
        EXIT WHEN clock_timestamp() > deadline;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN got;
END $$;
-- A committed marker event on channel sessions_start_marker ends a collection.
CREATE FUNCTION pg_temp.marker() RETURNS text LANGUAGE sql AS $$
    SELECT dblink_exec('w', 'INSERT INTO sessions.store (kind, namespace, status) VALUES (''telemetry'', ''marker'', ''LIVE'')') $$;
SELECT dblink_exec('l', 'LISTEN sessions_start_marker');

-- ---- every start/stop path, by direct store writes ------------------------
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, user_ref)
                   VALUES ('ocpi', 'NL-TNM', 'O1', 'PENDING', '2025-09-01 10:00+00', 'NL-TNM-C1')$$);
SELECT is(pg_temp.evs('O1'), 'start:PENDING', 'OCPI session stored for the first time: start');
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'ACTIVE' WHERE external_id = 'O1'$$);
SELECT is(pg_temp.evs('O1'), 'start:PENDING,start:ACTIVE', 'OCPI status moving into ACTIVE: start');
SELECT pg_temp.w($$UPDATE sessions.store SET kwh = 4.5, last_updated = now() WHERE external_id = 'O1'$$);
SELECT is(pg_temp.evs('O1'), 'start:PENDING,start:ACTIVE', 'other OCPI updates: no event');
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'COMPLETED', ended_at = '2025-09-01 11:00+00' WHERE external_id = 'O1'$$);
SELECT is(pg_temp.evs('O1'), 'start:PENDING,start:ACTIVE,stop:COMPLETED', 'OCPI becoming COMPLETED: stop');
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'INVALID' WHERE external_id = 'O1'$$);
SELECT is(pg_temp.evs('O1'), 'start:PENDING,start:ACTIVE,stop:COMPLETED', 'COMPLETED to INVALID: no second stop');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'O2', 'ACTIVE')$$);
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'INVALID' WHERE external_id = 'O2'$$);
SELECT is(pg_temp.evs('O2'), 'start:ACTIVE,stop:INVALID', 'OCPI becoming INVALID: stop');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'BE-BEC', 'O3', 'COMPLETED')$$);
SELECT is(pg_temp.evs('O3'), 'start:COMPLETED,stop:COMPLETED', 'OCPI session stored already completed: start and stop');

SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at)
                   VALUES ('powerflex', 'site_a', 'P1', 'FINISHED', '2025-09-01 10:00+00', '2025-09-01 11:00+00')$$);
SELECT pg_temp.w($$UPDATE sessions.store SET kwh = 7 WHERE external_id = 'P1'$$);
SELECT is(pg_temp.evs('P1'), 'start:FINISHED', 'PowerFlex session imported for the first time: start only');

SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until)
                   VALUES ('telemetry', 'DataSource', 'T1', 'LIVE', '2025-09-01 10:00+00', '2025-09-02')$$);
SELECT is(pg_temp.evs('T1'), 'start:LIVE', 'telemetry session created: start');
SELECT pg_temp.w($$UPDATE sessions.store SET valid_until = '2025-09-03' WHERE external_id = 'T1'$$);
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'ENDED', ended_at = '2025-09-01 12:00+00' WHERE external_id = 'T1'$$);
SELECT pg_temp.w($$UPDATE sessions.store SET ended_at = '2025-09-01 12:30+00' WHERE external_id = 'T1'$$);
SELECT is(pg_temp.evs('T1'), 'start:LIVE,stop:ENDED', 'telemetry session ended: one stop, later changes nothing');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until)
                   VALUES ('telemetry', 'DataSource', 'T2', 'LIVE', '2025-09-01 10:00+00', '2025-09-01 10:05+00')$$);
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'EXPIRED', ended_at = valid_until WHERE external_id = 'T2'$$);
SELECT is(pg_temp.evs('T2'), 'start:LIVE,stop:EXPIRED', 'telemetry session expired: stop');

SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until)
                   VALUES ('invoice', 'online', 'I1', 'OPEN', '2025-09-01 10:00+00', '2025-09-02')$$);
SELECT is(pg_temp.evs('I1'), 'start:OPEN', 'invoice-style session opened: start');
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'CLOSED', ended_at = '2025-09-01 10:30+00' WHERE external_id = 'I1'$$);
SELECT is(pg_temp.evs('I1'), 'start:OPEN,stop:CLOSED', 'invoice-style session terminated: stop');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at)
                   VALUES ('invoice', 'batch', 'I2', 'EXPIRED', '2025-09-01 10:00+00', '2025-09-01 10:01+00')$$);
SELECT is(pg_temp.evs('I2'), 'start:EXPIRED,stop:EXPIRED', 'invoice-style session stored already ended: start and stop');
SELECT pg_temp.w($$DELETE FROM sessions.store WHERE external_id = 'I2'$$);
SELECT is(pg_temp.evs('I2'), 'start:EXPIRED,stop:EXPIRED', 'DELETE: no event');

SELECT is((SELECT pg_catalog.count(DISTINCT seq)::int FROM sessions.event_log),
          (SELECT pg_catalog.count(*)::int FROM sessions.event_log), 'one log row per event, seq unique');
SELECT ok((SELECT bool_and(e.event_time = CASE e.event WHEN 'start' THEN '2025-09-01 10:00+00'::timestamptz
                                                       ELSE '2025-09-01 12:00+00' END)
             FROM sessions.event_log e WHERE external_id = 'T1'),
          'event time: started_at for start, ended_at for stop');

-- UPDATE events when switched on (per session here; SUSET).
SELECT pg_temp.w($$SET session_analytics.notify_updates = on$$);
SELECT pg_temp.w($$UPDATE sessions.store SET kwh = 9 WHERE external_id = 'P1'$$);
SELECT pg_temp.w($$UPDATE sessions.store SET kwh = 9 WHERE external_id = 'P1'$$);
SELECT pg_temp.w($$RESET session_analytics.notify_updates$$);
SELECT pg_temp.w($$UPDATE sessions.store SET kwh = 10 WHERE external_id = 'P1'$$);
SELECT is(pg_temp.evs('P1'), 'start:FINISHED,update:FINISHED',
          'notify_updates: an UPDATE that changes the row is an update event; unchanged rows and the default send none');

-- ---- rollback: nothing recorded, nothing sent ------------------------------
SELECT dblink_exec('l', 'LISTEN sessions_start');
SELECT pg_temp.w('BEGIN');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'RB1', 'ACTIVE')$$);
SELECT pg_temp.w('ROLLBACK');
SELECT pg_temp.w('BEGIN');
SELECT pg_temp.w('SAVEPOINT s1');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'RB2', 'ACTIVE')$$);
SELECT pg_temp.w('ROLLBACK TO SAVEPOINT s1');
SELECT pg_temp.w('SAVEPOINT s2');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'RB3', 'ACTIVE')$$);
SELECT pg_temp.w('RELEASE SAVEPOINT s2');
SELECT pg_temp.w('COMMIT');
SELECT pg_temp.marker();
SELECT is(pg_temp.collect('sessions_start_marker'), 3, 'three notifications up to the marker');
SELECT is((SELECT string_agg(payload::json->>'external_id', ',' ORDER BY n) FROM notes WHERE channel = 'sessions_start'),
          'RB3', 'rolled-back transaction and subtransaction notify nothing; the released one does');
SELECT is((SELECT pg_catalog.count(*)::int FROM sessions.event_log WHERE external_id IN ('RB1', 'RB2')), 0,
          'rolled-back writes leave no log rows');
SELECT is(pg_temp.evs('RB3'), 'start:ACTIVE', 'released subtransaction logged');

-- ---- channels and payloads -------------------------------------------------
SELECT dblink_exec('l', 'LISTEN "sessions_stop:NL-TNM"');
SELECT dblink_exec('l', 'LISTEN sessions_stop_site_a');
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status, user_ref, doc)
                   VALUES ('ocpi', 'NL-TNM', 'N1', 'ACTIVE', 'alice@example.com', '{"auth_id": "secret-token"}')$$);
SELECT pg_temp.w($$UPDATE sessions.store SET status = 'COMPLETED', ended_at = '2030-01-01 00:00+00' WHERE external_id = 'N1'$$);
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'BE-BEC', 'N2', 'COMPLETED')$$);
SELECT pg_temp.marker();
SELECT is(pg_temp.collect('sessions_start_marker'), 5, 'notifications: start N1, stop N1 on the party channel, start N2, marker twice');
SELECT results_eq($$SELECT channel, payload::json->>'external_id' FROM notes ORDER BY n$$,
                  $$VALUES ('sessions_start'::text, 'N1'::text), ('sessions_stop:NL-TNM', 'N1'),
                           ('sessions_start', 'N2'), ('sessions_start', NULL), ('sessions_start_marker', NULL)$$,
                  'global and per-party channels; another party''s stop is not on NL-TNM''s channel');
SELECT is((SELECT array_agg(k ORDER BY k) FROM notes, json_object_keys(payload::json) k WHERE channel = 'sessions_stop:NL-TNM'),
          ARRAY['event', 'external_id', 'kind', 'namespace', 'seq', 'session_key', 'status', 'time'],
          'payload fields: seq, event, kind, namespace, session_key, external_id, status, time');
SELECT is((SELECT payload::json->>'time' FROM notes WHERE channel = 'sessions_stop:NL-TNM'),
          '2030-01-01T00:00:00+00:00', 'payload time is ISO 8601 UTC');
SELECT is((SELECT (payload::json->>'seq')::bigint FROM notes WHERE channel = 'sessions_stop:NL-TNM'),
          (SELECT seq FROM sessions.event_log WHERE external_id = 'N1' AND event = 'stop'), 'payload seq is the log seq');
SELECT ok((SELECT bool_and(payload NOT LIKE '%alice%' AND payload NOT LIKE '%secret%') FROM notes),
          'no personal data in payloads');
SELECT is((SELECT payload FROM notes WHERE channel = 'sessions_stop:NL-TNM'),
          (SELECT sessions.event_payload(e)::text FROM sessions.event_log e WHERE external_id = 'N1' AND event = 'stop'),
          'event_payload gives the notification payload of a logged event');

-- Oversized and odd text stays under 8000 bytes and valid JSON.
SELECT pg_temp.w(format($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', %L, 'ACTIVE')$$,
                        repeat(E'\x01"\\é', 5000)));
SELECT pg_temp.w(format($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('telemetry', %L, 'LONGNS', 'LIVE')$$,
                        repeat('Ω', 3000)));
SELECT pg_temp.marker();
SELECT is(pg_temp.collect('sessions_start_marker'), 4, 'oversized events notified');
SELECT ok((SELECT bool_and(octet_length(payload) < 8000) FROM notes), 'every payload under 8000 bytes');
SELECT is((SELECT count(*)::int FROM notes WHERE (payload::json->>'truncated')::boolean), 2, 'cut payloads say truncated');
SELECT ok((SELECT starts_with(payload::json->>'external_id', repeat(E'\x01"\\é', 10)) FROM notes ORDER BY n LIMIT 1), 'escaped text decodes to a prefix of the original');

-- Channel names.
SELECT is(sessions.channel_for('start', NULL), 'sessions_start', 'all namespaces: sessions_<event>');
SELECT is(sessions.channel_for('stop', 'site_a'), 'sessions_stop_site_a', 'plain namespace: sessions_<event>_<ns>');
SELECT is(sessions.channel_for('start', 'NL-TNM'), 'sessions_start:NL-TNM', 'other namespaces verbatim after a colon');
SELECT is(sessions.channel_for('update', 'Data Source "x"'), 'sessions_update:Data Source "x"', 'any characters kept');
SELECT is(sessions.channel_for('start', repeat('Ω', 40)),
          'sessions_start:' || repeat('Ω', 15) || '#' || left(encode(sha256(convert_to(repeat('Ω', 40), 'UTF8')), 'hex'), 16),
          'over 63 bytes: prefix cut at a character boundary, # and 16 hex digits of sha256');
SELECT ok(octet_length(sessions.channel_for('stop', repeat('x', 500))) <= 63, 'long names fit NAMEDATALEN');
SELECT isnt(sessions.channel_for('stop', repeat('x', 100)), sessions.channel_for('stop', repeat('x', 99)), 'long names stay distinct');
SELECT isnt(sessions.channel_for('start', repeat('é', 15) || '#f96161c7582c75df'), sessions.channel_for('start', repeat('é', 30)),
            'a short namespace cannot spell out a long one''s hashed channel');
SELECT ok(sessions.channel_for('start', 'a#b') LIKE 'sessions_start:a#b#%' AND octet_length(sessions.channel_for('start', 'a#b')) = 35,
          'a namespace holding # is hashed, so verbatim names never hold #');
SELECT is(pg_catalog.left(sessions.channel_for('start', E'a\x01b'), 18), 'sessions_start:a?b',
          'control characters never reach a channel name');
SELECT throws_ok($$SELECT sessions.channel_for('begin', 'x')$$, '22023', NULL, 'unknown event rejected');
SELECT throws_ok($$SELECT sessions.channel_for(NULL, 'x')$$, '22004', NULL, 'NULL event rejected');
SELECT throws_ok($$SELECT sessions.channel_for('start', '')$$, '22023', NULL, 'empty namespace rejected');

-- notify = off: logged, not notified.
SELECT pg_temp.w($$SET session_analytics.notify = off$$);
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'Q1', 'ACTIVE')$$);
SELECT pg_temp.w($$RESET session_analytics.notify$$);
SELECT pg_temp.marker();
SELECT pg_temp.collect('sessions_start_marker');
SELECT is((SELECT count(*)::int FROM notes WHERE payload LIKE '%"Q1"%'), 0, 'notify = off sends nothing');
SELECT is(pg_temp.evs('Q1'), 'start:ACTIVE', 'notify = off still logs the event');

-- Trigger protocol and payload errors. On any table but sessions.store the
-- function refuses before anything else (checked by OID); on the store
-- itself only AFTER ... FOR EACH ROW on INSERT/UPDATE runs.
CREATE TEMP TABLE tr (kind text);
CREATE TRIGGER tr_after AFTER INSERT ON tr FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$INSERT INTO tr VALUES ('ocpi')$$, '42809', NULL, 'store_events refuses any table but sessions.store');
DROP TRIGGER tr_after ON tr;
SAVEPOINT trig;
CREATE TRIGGER tr_before BEFORE INSERT ON sessions.store FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status) VALUES ('ocpi', 'TR', 'ACTIVE')$$, '39P01', NULL,
                 'store_events refuses to run BEFORE');
ROLLBACK TO SAVEPOINT trig;
CREATE TRIGGER tr_stmt AFTER INSERT ON sessions.store FOR EACH STATEMENT EXECUTE FUNCTION sessions.store_events();
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status) VALUES ('ocpi', 'TR', 'ACTIVE')$$, '39P01', NULL,
                 'store_events refuses to run per statement');
ROLLBACK TO SAVEPOINT trig;
CREATE TRIGGER tr_del AFTER DELETE ON sessions.store FOR EACH ROW EXECUTE FUNCTION sessions.store_events();
INSERT INTO sessions.store (kind, namespace, status) VALUES ('ocpi', 'TR', 'ACTIVE');
SELECT throws_ok($$DELETE FROM sessions.store WHERE namespace = 'TR'$$, '39P01', NULL, 'store_events refuses DELETE');
ROLLBACK TO SAVEPOINT trig;
-- Defence in depth: a log whose columns are not the expected ones is never
-- written or read (no tuple is formed against another descriptor).
ALTER TABLE sessions.event_log ADD COLUMN extra int;
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status) VALUES ('ocpi', 'TR', 'ACTIVE')$$, '55000', NULL,
                 'store_events refuses a log with other columns');
SELECT throws_ok($$SELECT sessions.event_payload(e) FROM sessions.event_log e LIMIT 1$$, '55000', NULL,
                 'event_payload refuses a row of another shape');
ROLLBACK TO SAVEPOINT trig;
-- Columns are written by position (Anum_event_log_*): two columns of one type
-- swapped by name would take each other's values, so names are checked too.
ALTER TABLE sessions.event_log RENAME COLUMN kind TO kind_swap;
ALTER TABLE sessions.event_log RENAME COLUMN namespace TO kind;
ALTER TABLE sessions.event_log RENAME COLUMN kind_swap TO namespace;
SELECT throws_ok($$INSERT INTO sessions.store (kind, namespace, status) VALUES ('ocpi', 'TR', 'ACTIVE')$$, '55000', NULL,
                 'store_events refuses a log whose columns are in another order by name');
SELECT throws_ok($$SELECT sessions.event_payload(e) FROM sessions.event_log e LIMIT 1$$, '55000', NULL,
                 'event_payload refuses a row whose column names are in another order');
ROLLBACK TO SAVEPOINT trig;
SELECT throws_ok($$SELECT sessions.event_payload(ROW(NULL, 'start', 'ocpi', 'x', gen_random_uuid(), NULL, 'A', NULL, now(), '1')::sessions.event_log)$$,
                 '22004', NULL, 'event_payload: NULL seq rejected');
SELECT throws_ok($$SELECT sessions.event_payload(ROW(1, 'begin', 'ocpi', 'x', gen_random_uuid(), NULL, 'A', NULL, now(), '1')::sessions.event_log)$$,
                 '22023', NULL, 'event_payload: unknown event rejected');

-- ---- coalescing ------------------------------------------------------------
SELECT dblink_exec('l', 'LISTEN sessions_start_bulk');
SELECT pg_temp.w($$SET session_analytics.notify_coalesce_after = 10$$);
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status)
                   SELECT 'powerflex', 'bulk', 'B' || g, 'FINISHED' FROM generate_series(1, 50) g$$);
SELECT pg_temp.w($$INSERT INTO sessions.store (kind, namespace, external_id, status)
                   SELECT 'powerflex', 'small', 'S' || g, 'FINISHED' FROM generate_series(1, 5) g$$);
SELECT pg_temp.w($$RESET session_analytics.notify_coalesce_after$$);
SELECT pg_temp.marker();
SELECT is(pg_temp.collect('sessions_start_marker'), 9, 'bulk of 50: one range per channel; 5 rows: one each (+ marker twice)');
SELECT is((SELECT count(*)::int FROM sessions.event_log WHERE namespace = 'bulk'), 50, 'the log keeps one row per event');
SELECT is((SELECT (payload::json->>'count')::int FROM notes WHERE channel = 'sessions_start_bulk'), 50, 'range notification counts the events');
SELECT is((SELECT (payload::json->>'last_seq')::bigint - (payload::json->>'first_seq')::bigint FROM notes WHERE channel = 'sessions_start_bulk'),
          49::bigint, 'range notification carries first_seq and last_seq');

-- ---- events_since: order with out-of-order commits ------------------------
CREATE TEMP TABLE pos AS SELECT h FROM dblink('r', 'SELECT sessions.events_head()') AS t(h bigint);
SELECT dblink_exec('w', 'BEGIN');
SELECT dblink_exec('w', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', 'online', 'OOO1', 'OPEN')$$);
SELECT dblink_exec('w2', 'BEGIN');
SELECT dblink_exec('w2', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', 'online', 'OOO2', 'OPEN')$$);
SELECT dblink_exec('w2', 'COMMIT');
SELECT is((SELECT count(*)::int FROM dblink('r', format('SELECT seq FROM sessions.event_log WHERE seq > %s', (SELECT h FROM pos))) AS t(s bigint)),
          1, 'the later-numbered event committed first (a naive seq > x reader would return it now)');
SELECT is((SELECT count(*)::int FROM dblink('r', format('SELECT seq FROM sessions.events_since(%s)', (SELECT h FROM pos))) AS t(s bigint)),
          0, 'events_since holds it back while the lower-numbered transaction is open');
SELECT dblink_exec('w', 'COMMIT');
SELECT results_eq(format($$SELECT external_id FROM dblink('r', 'SELECT external_id FROM sessions.events_since(%s)') AS t(external_id text)$$, (SELECT h FROM pos)),
                  ARRAY['OOO1', 'OOO2'], 'after the late commit both come, in seq order');
SELECT results_eq(format($$SELECT external_id FROM dblink('r', 'SELECT external_id FROM sessions.events_since(%s, ''online'', 1)') AS t(external_id text)$$, (SELECT h FROM pos)),
                  ARRAY['OOO1'], 'namespace filter and max_rows');
SELECT is((SELECT h FROM dblink('r', 'SELECT sessions.events_head()') AS t(h bigint)),
          (SELECT max(seq) FROM sessions.event_log), 'head reaches the newest event once all writers are done');
-- An open transaction that writes no events does not hold readers back, also
-- when it took its xid between an event's xid and its seq (past the xmax).
CREATE TEMP TABLE pos2 AS SELECT h FROM dblink('r', 'SELECT sessions.events_head()') AS t(h bigint);
SELECT dblink_exec('w', 'BEGIN');
SELECT x FROM dblink('w', 'SELECT pg_current_xact_id()::text') AS t(x text);
SELECT dblink_exec('w2', 'BEGIN');
SELECT x FROM dblink('w2', 'SELECT pg_current_xact_id()::text') AS t(x text);
SELECT dblink_exec('w', $$INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('invoice', 'online', 'LT1', 'OPEN')$$);
SELECT dblink_exec('w', 'COMMIT');
SELECT is((SELECT string_agg(external_id, ',') FROM dblink('r', format('SELECT external_id FROM sessions.events_since(%s)', (SELECT h FROM pos2))) AS t(external_id text)),
          'LT1', 'a running transaction that writes no events does not delay catch-up');
SELECT dblink_exec('w2', 'COMMIT');
SELECT throws_ok($$SELECT * FROM sessions.events_since(NULL)$$, '22004', NULL, 'NULL after_seq rejected');
SELECT throws_ok($$SELECT * FROM sessions.events_since(-1)$$, '22023', NULL, 'negative after_seq rejected');
SELECT throws_ok($$SELECT * FROM sessions.events_since(0, NULL, 0)$$, '22023', NULL, 'max_rows below 1 rejected');

-- ---- RLS on catch-up -------------------------------------------------------
SELECT pg_temp.w('CREATE ROLE sa_ev_party LOGIN IN ROLE session_analytics_reader');
SELECT pg_temp.w($$INSERT INTO sessions.role_namespace VALUES ('sa_ev_party', 'BE-BEC')$$);
SELECT dblink_connect('p', format('dbname=%s host=%s port=%s user=sa_ev_party', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT results_eq($$SELECT DISTINCT ns FROM dblink('p', 'SELECT namespace FROM sessions.events_since(0)') AS t(ns text)$$,
                  ARRAY['BE-BEC'], 'a reader mapped to one party catches up on its events only');
SELECT dblink_disconnect('p');
SELECT pg_temp.w($$DELETE FROM sessions.role_namespace WHERE role_name = 'sa_ev_party'$$);
SELECT pg_temp.w('DROP ROLE sa_ev_party');

-- ---- retention ---------------------------------------------------------------
-- Seq 7 is old too, but seq 6 before it is not: pruning deletes a prefix of
-- the log in seq order (no index on logged_at), so 7 waits for 6.
SELECT pg_temp.w($$UPDATE sessions.event_log SET logged_at = now() - interval '30 days' WHERE seq <= 5 OR seq = 7$$);
SELECT pg_temp.w($$SET session_analytics.event_retention = 0$$);
SELECT is((SELECT n FROM dblink('w', 'SELECT sessions.prune_events()') AS t(n bigint)), 0::bigint, 'retention 0 keeps everything');
SELECT pg_temp.w($$SET session_analytics.event_retention = '7d'$$);
SELECT is((SELECT n FROM dblink('w', 'SELECT sessions.prune_events()') AS t(n bigint)), 5::bigint, 'events older than the retention are pruned');
SELECT is((SELECT pruned_through FROM sessions.event_prune_state), 5::bigint, 'prune state records the highest pruned seq');
SELECT throws_ok($$SELECT * FROM sessions.events_since(2)$$, '22023', NULL, 'resuming below the pruned position is an error, not a silent gap');
SELECT lives_ok($$SELECT * FROM sessions.events_since(5)$$, 'resuming at the pruned position works');
SELECT ok(EXISTS (SELECT 1 FROM sessions.event_log WHERE seq = 7),
          'an old event after a younger one is kept until that one is old too (a prefix is pruned)');
SELECT pg_temp.w($$UPDATE sessions.event_log SET logged_at = now() - interval '30 days' WHERE seq = 6$$);
SELECT is((SELECT n FROM dblink('w', 'SELECT sessions.prune_events()') AS t(n bigint)), 2::bigint,
          'once the younger one is old, both go');
SELECT is((SELECT pruned_through FROM sessions.event_prune_state), 7::bigint, 'and the prune state moves past both');

SELECT dblink_disconnect('w');
SELECT dblink_disconnect('w2');
SELECT dblink_disconnect('l');
SELECT dblink_disconnect('r');
SELECT * FROM finish();
ROLLBACK;
