-- Start/stop events through the API functions of every kind: OCPI PUT/PATCH,
-- PowerFlex import, telemetry create/end, invoice-style open/terminate, expiry
-- (expire_sessions / maintenance), and the notification of an API write.
BEGIN;
SELECT plan(12);

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
