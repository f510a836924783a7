-- Events of multi-row statements (issue 14): one event per row change that
-- derives one, in the order the statement processed its rows (seq order),
-- and none for rows whose event-relevant fields did not change. The log is
-- read in the writing transaction itself (its own rows are visible to it).
BEGIN;
SELECT plan(8);

-- The events of a namespace as event:external_id in seq order.
CREATE FUNCTION pg_temp.evs(ns text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(event || ':' || external_id, ',' ORDER BY seq), '')
      FROM sessions.event_log WHERE namespace = ns $$;

-- An N-row INSERT: a start per row, a stop right after it for a row stored
-- finished, rows in VALUES order.
INSERT INTO sessions.store (kind, namespace, external_id, status)
VALUES ('ocpi', 'NL-MR1', 'A', 'ACTIVE'), ('ocpi', 'NL-MR1', 'B', 'COMPLETED'), ('ocpi', 'NL-MR1', 'C', 'ACTIVE'),
       ('ocpi', 'NL-MR1', 'D', 'INVALID'), ('ocpi', 'NL-MR1', 'E', 'ACTIVE');
SELECT is(pg_temp.evs('NL-MR1'), 'start:A,start:B,stop:B,start:C,start:D,stop:D,start:E',
          'a 5-row INSERT logs one start per row and a stop after each finished one, in row order');

-- An N-row UPDATE: a stop for each row that finishes, nothing for the rows
-- that stay as they were or change nothing the events derive from.
INSERT INTO sessions.store (kind, namespace, external_id, status)
SELECT 'ocpi', 'NL-MR2', 'U' || g, 'ACTIVE' FROM generate_series(1, 6) g;
UPDATE sessions.store SET status = CASE WHEN external_id IN ('U2', 'U5') THEN 'COMPLETED' ELSE status END,
                          kwh = 1
 WHERE namespace = 'NL-MR2';
SELECT is((SELECT string_agg(event || ':' || external_id, ',' ORDER BY external_id)
             FROM sessions.event_log WHERE namespace = 'NL-MR2' AND event = 'stop'), 'stop:U2,stop:U5',
          'a 6-row UPDATE logs a stop for each of the two rows it finishes');
SELECT is((SELECT count(*)::int FROM sessions.event_log WHERE namespace = 'NL-MR2'), 8,
          'and nothing for the four rows whose status did not change (6 starts + 2 stops)');
SELECT is((SELECT count(DISTINCT seq)::int FROM sessions.event_log WHERE namespace = 'NL-MR2'), 8,
          'every event has a seq of its own');

-- INSERT ... ON CONFLICT over new and present rows: new rows start (and
-- stop when finished), present rows that finish stop, present rows that
-- stay ACTIVE log nothing; in the statement's row order.
INSERT INTO sessions.store (kind, namespace, external_id, status)
VALUES ('ocpi', 'NL-MR3', 'P1', 'ACTIVE'), ('ocpi', 'NL-MR3', 'P2', 'ACTIVE');
INSERT INTO sessions.store AS s (kind, namespace, external_id, status)
VALUES ('ocpi', 'NL-MR3', 'N1', 'ACTIVE'), ('ocpi', 'NL-MR3', 'P1', 'COMPLETED'), ('ocpi', 'NL-MR3', 'N2', 'COMPLETED'),
       ('ocpi', 'NL-MR3', 'P2', 'ACTIVE')
ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status;
SELECT is(pg_temp.evs('NL-MR3'), 'start:P1,start:P2,start:N1,stop:P1,start:N2,stop:N2',
          'an ON CONFLICT upsert of 4 rows logs events of the 3 that start or stop, in row order');

-- With notify_updates, an N-row UPDATE logs an update for each row that
-- changed and none for a row rewritten with the same values.
SET LOCAL session_analytics.notify_updates = on;
INSERT INTO sessions.store (kind, namespace, external_id, status, kwh)
VALUES ('ocpi', 'NL-MR4', 'Q1', 'ACTIVE', 1), ('ocpi', 'NL-MR4', 'Q2', 'ACTIVE', 2), ('ocpi', 'NL-MR4', 'Q3', 'ACTIVE', 3);
UPDATE sessions.store SET kwh = CASE external_id WHEN 'Q2' THEN kwh ELSE kwh + 1 END WHERE namespace = 'NL-MR4';
SELECT is((SELECT string_agg(event || ':' || external_id, ',' ORDER BY external_id)
             FROM sessions.event_log WHERE namespace = 'NL-MR4' AND event = 'update'), 'update:Q1,update:Q3',
          'a 3-row UPDATE with notify_updates logs updates of the two changed rows only');
RESET session_analytics.notify_updates;

-- A PowerFlex import is one statement over its rows: each new row starts
-- (the trigger gives PowerFlex rows no stop: src/events/store_events.c), in document
-- order; a re-import with notify_updates logs an update for the changed row
-- only.
SELECT sessions.import_powerflex('[{"session_id": "x3", "session_kwh": 1, "session_start_time": 5, "session_end_time": 6},
                                   {"session_id": "x1", "session_kwh": 1, "session_start_time": 5},
                                   {"session_id": "x2", "session_kwh": 1, "session_start_time": 5, "session_end_time": 6}]', 'MR5');
SELECT is(pg_temp.evs('MR5'), 'start:x3,start:x1,start:x2', 'a 3-row import logs its events in document order');
SET LOCAL session_analytics.notify_updates = on;
SELECT sessions.import_powerflex('[{"session_id": "x3", "session_kwh": 1, "session_start_time": 5, "session_end_time": 6},
                                   {"session_id": "x1", "session_kwh": 1, "session_start_time": 5, "session_end_time": 7},
                                   {"session_id": "x2", "session_kwh": 1, "session_start_time": 5, "session_end_time": 6}]', 'MR5');
RESET session_analytics.notify_updates;
SELECT is(pg_temp.evs('MR5'), 'start:x3,start:x1,start:x2,update:x1',
          'a re-import logs an update of the one row that changed');

SELECT * FROM finish();
ROLLBACK;
