-- session_analytics: start/stop events, their log and notifications.
--
-- A C trigger on sessions.store derives START / STOP (and, when
-- session_analytics.notify_updates is on, UPDATE) events from the store's
-- columns, appends one row per event to sessions.event_log in the writing
-- transaction and NOTIFYs at commit (docs/notifications.md).

-- Event numbers. CACHE 1 keeps numbers in allocation order across backends,
-- which the catch-up rule of sessions.events_since depends on.
CREATE SEQUENCE sessions.event_seq AS bigint CACHE 1;
COMMENT ON SEQUENCE sessions.event_seq IS 'Event sequence numbers (sessions.event_log.seq)';
-- Its value survives dump/restore, so saved listener positions stay valid.
SELECT pg_catalog.pg_extension_config_dump('sessions.event_seq', '');

CREATE TABLE sessions.event_log (
    seq          bigint      NOT NULL,
    event        text        NOT NULL,
    kind         text        NOT NULL,
    namespace    text        NOT NULL,
    session_key  uuid        NOT NULL,
    external_id  text,
    status       text        NOT NULL,
    event_time   timestamptz,
    logged_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- The next transaction id right after seq was taken: once every
    -- transaction older than this has finished, no event with a lower seq
    -- can still appear (see sessions.events_head).
    horizon      xid8        NOT NULL,
    CONSTRAINT event_log_pkey PRIMARY KEY (seq),
    CONSTRAINT event_log_event_check CHECK (event IN ('start', 'stop', 'update'))
);
COMMENT ON TABLE sessions.event_log IS
  'One row per session start/stop/update event, written by the store trigger in the writing transaction';
COMMENT ON COLUMN sessions.event_log.event_time IS
  'When the event happened: started_at for start, ended_at for stop, else last_updated';
COMMENT ON COLUMN sessions.event_log.logged_at IS 'Start of the writing transaction; retention is measured from it';
COMMENT ON COLUMN sessions.event_log.horizon IS
  'Next transaction id when seq was taken; the event bounds the catch-up position once the snapshot xmin reaches it';
-- No index on logged_at: retention deletes the oldest events in seq order
-- (sessions.prune_events walks the primary key), so writers maintain one
-- index per event, not two.

-- Where pruning has got to: a reader resuming below this has missed events.
CREATE TABLE sessions.event_prune_state (
    one             boolean     NOT NULL DEFAULT true,
    pruned_through  bigint      NOT NULL DEFAULT 0,
    pruned_at       timestamptz,
    CONSTRAINT event_prune_state_pkey PRIMARY KEY (one),
    CONSTRAINT event_prune_state_one_check CHECK (one)
);
INSERT INTO sessions.event_prune_state DEFAULT VALUES;
COMMENT ON TABLE sessions.event_prune_state IS
  'Highest event seq removed by sessions.prune_events (one row)';
-- The one row is shared on purpose: every reader must learn how far the log
-- was pruned to know whether it missed events. It is a position, not data;
-- the policy states that explicitly and allows nothing but reading it.
ALTER TABLE sessions.event_prune_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_prune_state_shared ON sessions.event_prune_state FOR SELECT USING (true);

ALTER TABLE sessions.event_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_log_by_namespace ON sessions.event_log
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));

CREATE FUNCTION sessions.store_events()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sa_store_events';
COMMENT ON FUNCTION sessions.store_events() IS
  'AFTER ROW trigger on sessions.store: logs start/stop events to sessions.event_log and notifies at commit';

CREATE TRIGGER store_events
    AFTER INSERT OR UPDATE ON sessions.store
    FOR EACH ROW EXECUTE FUNCTION sessions.store_events();

CREATE FUNCTION sessions.channel_for(event text, namespace text)
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sa_channel_for';
COMMENT ON FUNCTION sessions.channel_for(text, text) IS
  'NOTIFY channel for an event (start, stop, update) of one namespace, or of every namespace when namespace is NULL';

CREATE FUNCTION sessions.event_payload(e sessions.event_log)
RETURNS json
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sa_event_payload';
COMMENT ON FUNCTION sessions.event_payload(sessions.event_log) IS
  'The JSON payload a notification carries for this event (no personal data, under 8000 bytes)';

/*
 * events_head
 *		The highest seq the caller may resume after: the newest event the
 *		caller can see (RLS) up to which the log is final in the caller's
 *		snapshot -- every event with a lower seq is visible now or never will
 *		be. A tenant thus learns nothing from it but the seq of its own
 *		newest event (never the global count); a role that sees every
 *		namespace (or the owner) gets the global bound.
 *
 *		An event e is such a bound when every transaction that may still hold
 *		a lower seq has finished. Such a transaction got its xid before e's
 *		seq was taken, so its xid is below e.horizon (the next xid read right
 *		after). Fast path: the snapshot's xmin has passed the newest visible
 *		event's horizon. Otherwise the limit is the oldest xid, running in the
 *		snapshot (in its xip list, or at or past its xmax), that is not
 *		provably harmless; harmless means still running now (pg_locks, read
 *		after the snapshot, and still in progress after that read) without a
 *		write lock on the event log (the trigger locks the log before taking
 *		a seq, and locks last until commit), so a long transaction that
 *		writes no events does not hold readers back. Every bound for the
 *		whole log is one for the visible part of it; the result is never
 *		below the pruned position, where an empty reader must start.
 *		SECURITY INVOKER on purpose: RLS on the log applies.
 */
CREATE FUNCTION sessions.events_head()
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    snap    pg_catalog.pg_snapshot := pg_catalog.pg_current_snapshot();
    pruned  pg_catalog.int8 := (SELECT s.pruned_through FROM sessions.event_prune_state s);
    top     pg_catalog.int8;
    top_h   pg_catalog.xid8;
    lim     pg_catalog.xid8;
    nx      pg_catalog.xid8;
    harmless pg_catalog.xid[];
    head    pg_catalog.int8;
BEGIN
    SELECT e.seq, e.horizon INTO top, top_h FROM sessions.event_log e ORDER BY e.seq DESC LIMIT 1;
    IF top IS NULL THEN
        RETURN pruned;
    END IF;
    IF top_h OPERATOR(pg_catalog.<=) pg_catalog.pg_snapshot_xmin(snap) THEN
        RETURN GREATEST(top, pruned);
    END IF;
    -- Transactions running now that hold no write lock on the log.
    harmless := ARRAY(
        SELECT t.transactionid FROM pg_catalog.pg_locks t
         WHERE t.locktype OPERATOR(pg_catalog.=) 'transactionid'
           AND NOT EXISTS (
               SELECT 1 FROM pg_catalog.pg_locks r
                WHERE r.locktype OPERATOR(pg_catalog.=) 'relation'
                  AND r.relation OPERATOR(pg_catalog.=) 'sessions.event_log'::pg_catalog.regclass
                  AND r.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                  AND r.virtualtransaction OPERATOR(pg_catalog.=) t.virtualtransaction
                  AND r.mode OPERATOR(pg_catalog.<>) ALL (ARRAY['AccessShareLock', 'RowShareLock'])));
    -- Oldest xid running in the snapshot (or this transaction's) that may
    -- hold a seq; xids from the snapshot's xmax on count as running too.
    -- A transaction ends in the proc array before it releases its locks,
    -- and pg_locks is not read atomically: one seen without its log lock
    -- may have been committing. Harmless only if still in progress now,
    -- after pg_locks was read (then its locks were read while it ran).
    SELECT pg_catalog.min(c.x) INTO lim
      FROM (SELECT x FROM pg_catalog.pg_snapshot_xip(snap) AS x
            UNION ALL SELECT pg_catalog.pg_current_xact_id_if_assigned()) AS c
     WHERE c.x IS NOT NULL
       AND NOT (pg_catalog.xid(c.x) OPERATOR(pg_catalog.=) ANY (harmless)
                AND pg_catalog.pg_xact_status(c.x) OPERATOR(pg_catalog.=) 'in progress');
    nx := pg_catalog.pg_snapshot_xmax(snap);
    WHILE nx OPERATOR(pg_catalog.<) top_h AND pg_catalog.xid(nx) OPERATOR(pg_catalog.=) ANY (harmless)
          AND pg_catalog.pg_xact_status(nx) OPERATOR(pg_catalog.=) 'in progress' LOOP
        nx := (((nx::pg_catalog.text)::pg_catalog.int8 OPERATOR(pg_catalog.+) 1)::pg_catalog.text)::pg_catalog.xid8;
    END LOOP;
    lim := LEAST(lim, nx);
    SELECT e.seq INTO head FROM sessions.event_log e
     WHERE e.horizon OPERATOR(pg_catalog.<=) lim ORDER BY e.seq DESC LIMIT 1;
    RETURN GREATEST(COALESCE(head, 0), pruned);
END
$$;
COMMENT ON FUNCTION sessions.events_head() IS
  'Highest event seq the caller may resume after: its newest visible event up to which no event can still appear (never below the pruned position)';

/*
 * events_since
 *		Events after a position, in seq order, never beyond events_head():
 *		a transaction that took a lower seq and commits late is waited for,
 *		so a reader that moves its position to the last seq returned never
 *		skips an event. RLS on the log limits rows to the caller's namespaces.
 *		sessions.event_payload(e) gives each row's notification payload.
 */
CREATE FUNCTION sessions.events_since(after_seq bigint, namespace text DEFAULT NULL, max_rows int DEFAULT 1000)
RETURNS SETOF sessions.event_log
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    head   pg_catalog.int8;
    pruned pg_catalog.int8;
BEGIN
    IF after_seq IS NULL THEN
        RAISE EXCEPTION 'after_seq must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass 0 to read the whole log, or sessions.events_head() to start at the current position.';
    END IF;
    IF after_seq OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'after_seq must be >= 0, got %', after_seq USING ERRCODE = '22023';
    END IF;
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 100000, got %', COALESCE(max_rows::pg_catalog.text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT s.pruned_through INTO pruned FROM sessions.event_prune_state s;
    IF after_seq OPERATOR(pg_catalog.<) pruned THEN
        RAISE EXCEPTION 'events after seq % are no longer in the log', after_seq USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Events up to seq %s were removed by retention (session_analytics.event_retention).', pruned),
            HINT = 'Resynchronise from the store, then resume from sessions.events_head().';
    END IF;
    -- Cheap bound first: the newest event past after_seq whose horizon the
    -- snapshot's xmin has passed. Only when it gives nothing new, the exact
    -- bound (which reads pg_locks).
    head := (SELECT e.seq FROM sessions.event_log e
              WHERE e.seq OPERATOR(pg_catalog.>) after_seq
                AND e.horizon OPERATOR(pg_catalog.<=) pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
              ORDER BY e.seq DESC LIMIT 1);
    IF head IS NULL THEN
        head := sessions.events_head();
    END IF;
    RETURN QUERY
        SELECT e.*
          FROM sessions.event_log e
         WHERE e.seq OPERATOR(pg_catalog.>) after_seq AND e.seq OPERATOR(pg_catalog.<=) head
           AND (events_since.namespace IS NULL OR e.namespace OPERATOR(pg_catalog.=) events_since.namespace)
         ORDER BY e.seq
         LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION sessions.events_since(bigint, text, int) IS
  'Events after after_seq in seq order (optionally of one namespace), never returning an event after a higher-numbered one';

/*
 * events_settled
 *		A seq up to which the whole log (every tenant's events) is final in
 *		the caller's snapshot -- sessions.events_head() as the owner --
 *		rounded down to a multiple of 1000, so a tenant learns how far the
 *		log has settled only in steps of 1000 events, never the global count
 *		(docs/security.md). Every event at or below it is visible now or
 *		never will be. SECURITY DEFINER because the bound lies among rows
 *		row-level security hides; it returns nothing of them but the rounded
 *		number. Used by sessions.events_page.
 */
CREATE FUNCTION sessions.events_settled()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (sessions.events_head() OPERATOR(pg_catalog./) 1000::pg_catalog.int8) OPERATOR(pg_catalog.*) 1000::pg_catalog.int8
$$;
COMMENT ON FUNCTION sessions.events_settled() IS
  'A seq, rounded down to a multiple of 1000, up to which no event of any namespace can still appear (the global bound, coarse)';

/*
 * events_page
 *		A page of events_since with a position the caller may resume after
 *		even when no row (or only few) came back: the rows, in seq order,
 *		each with through = its seq, then one last row with ev NULL whose
 *		through is the page's bound. The bound never passes an event the
 *		caller could read later: on a full page it is the last seq returned;
 *		on a short one every event at or below it is either returned, or not
 *		for the caller (another namespace), or will never appear. It is the
 *		highest of: the page's own limit (the newest visible event past
 *		after_seq up to which the log is final: the events_head rule,
 *		restricted to seqs past after_seq so a tenant's catch-up reads only
 *		the rows above its position), and sessions.events_settled() cut
 *		below the caller's first visible event the page did not return (an
 *		event can be visible yet not final by its own horizon). So a tenant
 *		whose position lies below many other tenants' events moves past
 *		them, and the next page reads at most about 1000 of them again.
 *		SECURITY INVOKER on purpose: RLS on the log applies.
 */
CREATE FUNCTION sessions.events_page(after_seq bigint, namespace text DEFAULT NULL, max_rows int DEFAULT 1000)
RETURNS TABLE (ev sessions.event_log, through bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    snap     pg_catalog.pg_snapshot := pg_catalog.pg_current_snapshot();
    pruned   pg_catalog.int8;
    head     pg_catalog.int8;
    top_h    pg_catalog.xid8;
    lim      pg_catalog.xid8;
    nx       pg_catalog.xid8;
    harmless pg_catalog.xid[];
    n        pg_catalog.int4 := 0;
    nxt      pg_catalog.int8;
    settled  pg_catalog.int8;
    r        sessions.event_log;
BEGIN
    IF after_seq IS NULL THEN
        RAISE EXCEPTION 'after_seq must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass 0 to read the whole log, or sessions.events_head() to start at the current position.';
    END IF;
    IF after_seq OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'after_seq must be >= 0, got %', after_seq USING ERRCODE = '22023';
    END IF;
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 100000, got %', COALESCE(max_rows::pg_catalog.text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT s.pruned_through INTO pruned FROM sessions.event_prune_state s;
    IF after_seq OPERATOR(pg_catalog.<) pruned THEN
        RAISE EXCEPTION 'events after seq % are no longer in the log', after_seq USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Events up to seq %s were removed by retention (session_analytics.event_retention).', pruned),
            HINT = 'Resynchronise from the store, then resume from sessions.events_head().';
    END IF;
    -- The page's limit, as events_since finds it but never looking below
    -- after_seq: cheap bound first (the snapshot's xmin has passed the
    -- event's horizon), else the exact rule of sessions.events_head.
    head := (SELECT e.seq FROM sessions.event_log e
              WHERE e.seq OPERATOR(pg_catalog.>) after_seq
                AND e.horizon OPERATOR(pg_catalog.<=) pg_catalog.pg_snapshot_xmin(snap)
              ORDER BY e.seq DESC LIMIT 1);
    IF head IS NULL THEN
        top_h := (SELECT e.horizon FROM sessions.event_log e
                   WHERE e.seq OPERATOR(pg_catalog.>) after_seq ORDER BY e.seq DESC LIMIT 1);
    END IF;
    IF top_h IS NOT NULL THEN
        -- Kept in step with sessions.events_head (see its comment).
        harmless := ARRAY(
            SELECT t.transactionid FROM pg_catalog.pg_locks t
             WHERE t.locktype OPERATOR(pg_catalog.=) 'transactionid'
               AND NOT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_locks l
                    WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
                      AND l.relation OPERATOR(pg_catalog.=) 'sessions.event_log'::pg_catalog.regclass
                      AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                              WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                      AND l.virtualtransaction OPERATOR(pg_catalog.=) t.virtualtransaction
                      AND l.mode OPERATOR(pg_catalog.<>) ALL (ARRAY['AccessShareLock', 'RowShareLock'])));
        SELECT pg_catalog.min(c.x) INTO lim
          FROM (SELECT x FROM pg_catalog.pg_snapshot_xip(snap) AS x
                UNION ALL SELECT pg_catalog.pg_current_xact_id_if_assigned()) AS c
         WHERE c.x IS NOT NULL
           AND NOT (pg_catalog.xid(c.x) OPERATOR(pg_catalog.=) ANY (harmless)
                    AND pg_catalog.pg_xact_status(c.x) OPERATOR(pg_catalog.=) 'in progress');
        nx := pg_catalog.pg_snapshot_xmax(snap);
        WHILE nx OPERATOR(pg_catalog.<) top_h AND pg_catalog.xid(nx) OPERATOR(pg_catalog.=) ANY (harmless)
              AND pg_catalog.pg_xact_status(nx) OPERATOR(pg_catalog.=) 'in progress' LOOP
            nx := (((nx::pg_catalog.text)::pg_catalog.int8 OPERATOR(pg_catalog.+) 1)::pg_catalog.text)::pg_catalog.xid8;
        END LOOP;
        lim := LEAST(lim, nx);
        head := (SELECT e.seq FROM sessions.event_log e
                  WHERE e.seq OPERATOR(pg_catalog.>) after_seq AND e.horizon OPERATOR(pg_catalog.<=) lim
                  ORDER BY e.seq DESC LIMIT 1);
    END IF;
    head := COALESCE(head, after_seq);
    FOR r IN
        SELECT e.* FROM sessions.event_log e
         WHERE e.seq OPERATOR(pg_catalog.>) after_seq AND e.seq OPERATOR(pg_catalog.<=) head
           AND (events_page.namespace IS NULL OR e.namespace OPERATOR(pg_catalog.=) events_page.namespace)
         ORDER BY e.seq
         LIMIT max_rows
    LOOP
        ev := r;
        through := r.seq;
        n := n OPERATOR(pg_catalog.+) 1;
        RETURN NEXT;
    END LOOP;
    ev := NULL;
    IF n OPERATOR(pg_catalog.>=) max_rows THEN
        -- A full page: more may follow right after its last row.
        RETURN NEXT;
        RETURN;
    END IF;
    -- Every event of the caller's up to head was returned. Past head, up to
    -- the settled bound, but below the first such event not returned. A
    -- caller that row-level security does not limit reads every row past
    -- head on its next page anyway: the bound would save it nothing.
    IF pg_catalog.row_security_active('sessions.event_log'::pg_catalog.regclass) THEN
        settled := sessions.events_settled();
    END IF;
    IF settled OPERATOR(pg_catalog.>) head THEN
        nxt := (SELECT e.seq FROM sessions.event_log e
                 WHERE e.seq OPERATOR(pg_catalog.>) head AND e.seq OPERATOR(pg_catalog.<=) settled
                   AND (events_page.namespace IS NULL OR e.namespace OPERATOR(pg_catalog.=) events_page.namespace)
                 ORDER BY e.seq LIMIT 1);
        through := GREATEST(head, COALESCE(nxt OPERATOR(pg_catalog.-) 1, settled));
    ELSE
        through := head;
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION sessions.events_page(bigint, text, int) IS
  'Like events_since, plus a last row (ev NULL) whose through is the highest seq the caller may resume after: no event it could still read lies at or below it';

-- Runs as the owner so sessions.maintenance() (writers, the worker) can
-- prune: the writer role keeps EXECUTE for that; readers have none. What it
-- deletes is fixed by session_analytics.event_retention (superuser-only).
CREATE FUNCTION sessions.prune_events()
RETURNS bigint
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_prune_events';
COMMENT ON FUNCTION sessions.prune_events() IS
  'Deletes events older than session_analytics.event_retention; returns the number deleted (called by sessions.maintenance(), or pg_cron)';

-- Privileges. Nobody but the owner writes the log or takes event numbers
-- (the trigger writes it directly). store_events() is the trigger's
-- internal function: no role may execute it, so nobody can attach it to a
-- table of their own (CREATE TRIGGER needs EXECUTE); firing the installed
-- trigger needs no privilege on it.
REVOKE ALL ON sessions.event_log, sessions.event_prune_state, sessions.event_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.store_events(), sessions.channel_for(text, text),
    sessions.event_payload(sessions.event_log), sessions.events_head(),
    sessions.events_since(bigint, text, int), sessions.events_settled(),
    sessions.events_page(bigint, text, int), sessions.prune_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.store_events() FROM session_analytics_reader, session_analytics_writer;
GRANT SELECT ON sessions.event_log, sessions.event_prune_state TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.channel_for(text, text), sessions.event_payload(sessions.event_log),
    sessions.events_head(), sessions.events_since(bigint, text, int), sessions.events_settled(),
    sessions.events_page(bigint, text, int) TO session_analytics_reader;
