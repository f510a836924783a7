-- The log writer's two paths (src/event_log.c, insert_log_row): the usual
-- log, whose one index is its primary key, is written with heap_insert and
-- one index_insert; a log with any other index goes through the executor's
-- index maintenance, so an index added by the owner is never left without
-- entries, and the direct path comes back when it is dropped. Each index is
-- read on its own (the plan is checked to use it) and compared with the heap.
BEGIN;
SELECT plan(12);

-- The plan of a query, as one text.
\ir lib/explain.sql

-- The direct path: start and stop of two sessions (4 events).
INSERT INTO sessions.store (kind, namespace, external_id, status, ended_at)
VALUES ('invoice', 'lp_a', 'a1', 'CLOSED', now()), ('invoice', 'lp_a', 'a2', 'CLOSED', now());
SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM sessions.event_log), 4::bigint, 'four events logged on the direct path');
RESET enable_indexscan; RESET enable_indexonlyscan;
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM sessions.event_log WHERE seq > 0), 4::bigint, 'the primary key holds every one of them');

-- Another index: the executor's path maintains both.
CREATE INDEX lp_ns_idx ON sessions.event_log (namespace);
INSERT INTO sessions.store (kind, namespace, external_id, status, ended_at)
VALUES ('invoice', 'lp_b', 'b1', 'CLOSED', now()), ('invoice', 'lp_b', 'b2', 'OPEN', NULL);
SELECT matches(pg_temp.explain($$SELECT count(*) FROM sessions.event_log WHERE namespace = 'lp_b'$$), 'lp_ns_idx',
               'the count below reads the added index');
SELECT is((SELECT count(*) FROM sessions.event_log WHERE namespace = 'lp_b'), 3::bigint,
          'the added index has an entry for each of the three new events');
SELECT matches(pg_temp.explain($$SELECT count(*) FROM sessions.event_log WHERE seq > 0$$), 'event_log_pkey',
               'the count below reads the primary key');
SELECT is((SELECT count(*) FROM sessions.event_log WHERE seq > 0), 7::bigint, 'and so has the primary key');
RESET enable_seqscan;
SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;
SELECT is((SELECT count(*) FROM sessions.event_log WHERE namespace = 'lp_b'), 3::bigint, 'as the heap has');
RESET enable_indexscan; RESET enable_indexonlyscan;

-- Dropped again: back to the direct path, still complete.
DROP INDEX sessions.lp_ns_idx;
UPDATE sessions.store SET status = 'CLOSED', ended_at = now() WHERE external_id = 'b2';
SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;
SELECT is((SELECT count(*) FROM sessions.event_log), 8::bigint, 'the stop event after the index was dropped is logged');
RESET enable_indexscan; RESET enable_indexonlyscan;
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM sessions.event_log WHERE seq > 0), 8::bigint, 'the primary key holds all eight');
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT ok((SELECT count(DISTINCT seq) = 8 AND max(seq) - min(seq) = 7 FROM sessions.event_log),
          'eight consecutive seqs, none lost or doubled');
SELECT throws_ok($$INSERT INTO sessions.event_log SELECT * FROM sessions.event_log LIMIT 1$$, '23505', NULL,
                 'the primary key is still enforced (the owner re-inserting a logged row)');
SELECT is((SELECT count(*) FROM sessions.event_log WHERE namespace = 'lp_b'), 4::bigint, 'four events of lp_b in all');

SELECT * FROM finish();
ROLLBACK;
