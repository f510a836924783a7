-- The log writer's two paths (src/event_log.c, insert_log_row): the usual
-- log, whose one index is its primary key, is written with heap_insert and
-- one index_insert; a log with any other index goes through the executor's
-- index maintenance, so an index added by the owner is never left without
-- entries, and the direct path comes back when it is dropped. Each index is
-- read on its own (the others and the heap disabled) and compared with the
-- heap.
BEGIN;
SELECT plan(9);

CREATE FUNCTION pg_temp.by_seq() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
    SELECT count(*) INTO n FROM sessions.event_log WHERE seq > 0;
    RETURN n;
END $$;
CREATE FUNCTION pg_temp.by_ns(ns text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
    SELECT count(*) INTO n FROM sessions.event_log WHERE namespace = ns;
    RETURN n;
END $$;
CREATE FUNCTION pg_temp.heap_count(ns text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off;
    SELECT count(*) INTO n FROM sessions.event_log WHERE ns IS NULL OR namespace = ns;
    RETURN n;
END $$;

-- The direct path: start and stop of two sessions (4 events).
INSERT INTO sessions.store (kind, namespace, external_id, status, ended_at)
VALUES ('invoice', 'lp_a', 'a1', 'CLOSED', now()), ('invoice', 'lp_a', 'a2', 'CLOSED', now());
SELECT is(pg_temp.heap_count(NULL), 4::bigint, 'four events logged on the direct path');
SELECT is(pg_temp.by_seq(), 4::bigint, 'the primary key holds every one of them');
SELECT throws_ok($$INSERT INTO sessions.event_log SELECT * FROM sessions.event_log LIMIT 1$$, '23505', NULL,
                 'the primary key is still enforced (the owner re-inserting a logged row)');

-- Another index: the executor's path maintains both.
CREATE INDEX lp_ns_idx ON sessions.event_log (namespace);
INSERT INTO sessions.store (kind, namespace, external_id, status, ended_at)
VALUES ('invoice', 'lp_b', 'b1', 'CLOSED', now()), ('invoice', 'lp_b', 'b2', 'OPEN', NULL);
SELECT is(pg_temp.heap_count('lp_b'), 3::bigint, 'three more events with a second index on the log');
SELECT is(pg_temp.by_ns('lp_b'), 3::bigint, 'the added index has an entry for each of them');
SELECT is(pg_temp.by_seq(), 7::bigint, 'and so has the primary key');

-- Dropped again: back to the direct path, still complete.
DROP INDEX sessions.lp_ns_idx;
UPDATE sessions.store SET status = 'CLOSED', ended_at = now() WHERE external_id = 'b2';
SELECT is(pg_temp.heap_count(NULL), 8::bigint, 'the stop event after the index was dropped is logged');
SELECT is(pg_temp.by_seq(), 8::bigint, 'the primary key holds all eight');
SELECT ok((SELECT count(DISTINCT seq) = 8 AND max(seq) - min(seq) = 7 FROM sessions.event_log),
          'eight consecutive seqs, none lost or doubled');

SELECT * FROM finish();
ROLLBACK;
