-- The store accepts every kind and keeps documents unchanged.
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, kwh, doc)
VALUES ('ocpi', 'NL-TNM', '101', 'ACTIVE', '2024-01-01 10:00+00', 0, '{"id": "101", "kwh": 0.0}'),
       ('powerflex', 'Downtown', '0021160501', 'FINISHED', '2025-09-11 20:45+00', 5.3713, '{"session_kwh": 5.3713}'),
       ('telemetry', 'DataSource', NULL, 'LIVE', '2024-07-07 14:00+00', NULL, '{}'),
       ('invoice', 'online', '20250625-SO-2C3E6C8000-B675CF5D68-07', 'OPEN', '2025-06-25 10:00+00', NULL, '{}');
SELECT kind, namespace, external_id, status, kwh, doc FROM sessions.store ORDER BY kind;
SELECT count(DISTINCT session_key) AS keys FROM sessions.store;
SELECT sessions.visible_namespaces();
