-- session_analytics: telemetry sessions (Stream API session management).
--
-- A telemetry session is a row of sessions.store with kind 'telemetry':
-- namespace = data source, external_id NULL, status LIVE | ENDED | EXPIRED,
-- started_at = creation time, ended_at = termination time, valid_until.
-- doc holds {type, version, utc_offset (seconds), identifier, details}.
-- Associations (parent -> associate) live in sessions.telemetry_associate.
--
-- Reads never trust a LIVE status alone: a LIVE row past valid_until is
-- reported as EXPIRED with termination_time = valid_until, whether or not the
-- expiry worker (or sessions.expire_sessions()) has written that yet.

-- Largest accepted details document (its JSON text), in bytes.
-- Documented in docs/telemetry.md; sessions.telemetry_details_limit() says it.
CREATE FUNCTION sessions.telemetry_details_limit()
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 65536;
COMMENT ON FUNCTION sessions.telemetry_details_limit() IS
  'Largest accepted telemetry details document, in bytes of JSON text (64 KiB)';

CREATE TABLE sessions.telemetry_associate (
    session_key          uuid NOT NULL,
    namespace            text NOT NULL,
    associate_key        uuid NOT NULL,
    associate_namespace  text NOT NULL,
    -- The parent's namespace is in the key so the table can be distributed
    -- by it with the store (docs/scale-out.md).
    CONSTRAINT telemetry_associate_pkey PRIMARY KEY (session_key, namespace, associate_key),
    CONSTRAINT telemetry_associate_parent_fkey FOREIGN KEY (session_key, namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE,
    CONSTRAINT telemetry_associate_child_fkey FOREIGN KEY (associate_key, associate_namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE,
    CONSTRAINT telemetry_associate_self_check CHECK (session_key <> associate_key)
);
CREATE INDEX telemetry_associate_child_idx ON sessions.telemetry_associate (associate_key);
COMMENT ON TABLE sessions.telemetry_associate IS
  'Telemetry session hierarchy: session_key lists associate_key as an associate (acyclic)';
SELECT pg_catalog.pg_extension_config_dump('sessions.telemetry_associate', '');

-- Same namespace rule as the store, applied to both ends: a role sees and
-- writes only links between sessions it sees, so it can neither link its
-- session to another data source's nor learn another source's keys.
ALTER TABLE sessions.telemetry_associate ENABLE ROW LEVEL SECURITY;
CREATE POLICY telemetry_associate_by_namespace ON sessions.telemetry_associate
    USING (sessions.namespace_visible(namespace) AND sessions.namespace_visible(associate_namespace))
    WITH CHECK (sessions.namespace_visible(namespace) AND sessions.namespace_visible(associate_namespace));
REVOKE ALL ON sessions.telemetry_associate FROM PUBLIC;
GRANT SELECT ON sessions.telemetry_associate TO session_analytics_reader;
GRANT INSERT, DELETE ON sessions.telemetry_associate TO session_analytics_writer;

/*
 * telemetry_row
 *		Locks and returns a telemetry session by key (FOR UPDATE), checking
 *		that it exists, that data_source (when given) matches, and, when
 *		for_change, that it is still live. An expired-but-open row is written
 *		as EXPIRED on the way (it is locked already) before refusing.
 */
CREATE FUNCTION sessions.telemetry_row(p_key uuid, p_data_source text, p_for_change boolean)
RETURNS sessions.store
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    ns pg_catalog.text;
BEGIN
    IF p_key IS NULL THEN
        RAISE EXCEPTION 'session_key must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- The namespace first, then the row locked by its whole key: Citus locks
    -- only in a query that names the distribution column. A given
    -- data_source is tried as the namespace; otherwise (or when the key is
    -- not there) one unlocked probe finds it, which on Citus asks every
    -- shard (docs/scale-out.md, "Look-ups without the namespace").
    IF p_data_source IS NOT NULL THEN
        SELECT * INTO r FROM sessions.store s
         WHERE s.session_key = p_key AND s.namespace = p_data_source AND s.kind = 'telemetry'
           FOR UPDATE;
    END IF;
    IF r.session_key IS NULL THEN
        SELECT s.namespace INTO ns FROM sessions.store s
         WHERE s.session_key = p_key AND s.kind = 'telemetry' LIMIT 1;
        IF ns IS NOT NULL THEN
            SELECT * INTO r FROM sessions.store s
             WHERE s.session_key = p_key AND s.namespace = ns AND s.kind = 'telemetry'
               FOR UPDATE;
        END IF;
    END IF;
    IF r.session_key IS NULL THEN
        RAISE EXCEPTION 'telemetry session % does not exist', p_key
            USING ERRCODE = 'P0002', HINT = 'Create it with sessions.create_session().';
    END IF;
    IF p_data_source IS NOT NULL AND p_data_source <> r.namespace THEN
        RAISE EXCEPTION 'data_source "%" does not match session %', (CASE WHEN pg_catalog.length(p_data_source) > 64 THEN pg_catalog.left(p_data_source, 64) || '...' ELSE p_data_source END), p_key
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('The session belongs to data source "%s".', r.namespace);
    END IF;
    -- A due expiry is written first (the row is locked already), so the
    -- caller acts on the status a reader sees.
    IF r.ended_at IS NULL AND r.valid_until <= pg_catalog.now() THEN
        UPDATE sessions.store s
           SET status = 'EXPIRED', ended_at = GREATEST(r.valid_until, r.started_at), last_updated = pg_catalog.now()
         WHERE s.session_key = r.session_key AND s.namespace = r.namespace
        RETURNING * INTO r;
    END IF;
    IF p_for_change AND r.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'telemetry session % has ended and no longer changes', p_key
            USING ERRCODE = '55000', DETAIL = pg_catalog.format('Status %s since %s.', r.status, r.ended_at);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.telemetry_row(uuid, text, boolean) IS
  'Locks a telemetry session by key; P0002 when unknown, 22023 on a data source mismatch, 55000 when ended and a change was asked';

/*
 * telemetry_link
 *		Records parent -> associate, refusing unknown keys and cycles. Links
 *		are taken under one transaction-level advisory lock so two concurrent
 *		additions cannot close a cycle between them.
 */
CREATE FUNCTION sessions.telemetry_link(p_parent sessions.store, p_associate uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    child_ns text;
    cycle boolean;
    frontier uuid[];
    seen uuid[];
BEGIN
    IF p_associate IS NULL THEN
        RAISE EXCEPTION 'associate_key must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT s.namespace INTO child_ns FROM sessions.store s
     WHERE s.session_key = p_associate AND s.kind = 'telemetry';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'associate session % does not exist', p_associate USING ERRCODE = 'P0002';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sessions.telemetry_associate'));
    -- A cycle: the parent is the associate or among its descendants. Walked
    -- one level per query (Citus plans no recursive CTE across namespaces;
    -- docs/scale-out.md); seen keeps the walk finite.
    cycle := p_associate = p_parent.session_key;
    frontier := ARRAY[p_associate];
    seen := frontier;
    WHILE NOT cycle AND pg_catalog.cardinality(frontier) > 0 LOOP
        frontier := ARRAY(SELECT DISTINCT a.associate_key FROM sessions.telemetry_associate a
                           WHERE a.session_key = ANY (frontier) AND NOT a.associate_key = ANY (seen));
        cycle := p_parent.session_key = ANY (frontier);
        seen := seen || frontier;
    END LOOP;
    IF cycle THEN
        RAISE EXCEPTION 'associating % with % would create a cycle', p_parent.session_key, p_associate
            USING ERRCODE = '23514', DETAIL = 'Session associations form a hierarchy; a session cannot be its own ancestor.';
    END IF;
    INSERT INTO sessions.telemetry_associate (session_key, namespace, associate_key, associate_namespace)
    VALUES (p_parent.session_key, p_parent.namespace, p_associate, child_ns)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION sessions.telemetry_link(sessions.store, uuid) IS
  'Adds one association; P0002 for an unknown associate, 23514 for a cycle, duplicates ignored';

/*
 * create_session
 *		Stream API CreateSession: allocates the key, stores the session LIVE.
 */
CREATE FUNCTION sessions.create_session(
    data_source text,
    type text DEFAULT 'Session',
    version int DEFAULT 1,
    utc_offset interval DEFAULT '0',
    identifier text DEFAULT '',
    details jsonb DEFAULT '{}',
    associate_keys uuid[] DEFAULT '{}',
    creation_time timestamptz DEFAULT pg_catalog.now(),
    valid_until timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    a uuid;
    bad_key text;
    bad_type text;
BEGIN
    IF coalesce(data_source, '') = '' THEN
        RAISE EXCEPTION 'data_source must not be empty' USING ERRCODE = '22023';
    END IF;
    IF coalesce(type, '') = '' THEN
        RAISE EXCEPTION 'type must not be empty' USING ERRCODE = '22023';
    END IF;
    IF version IS NULL OR version < 0 THEN
        RAISE EXCEPTION 'version must be a non-negative integer' USING ERRCODE = '22023';
    END IF;
    IF utc_offset IS NULL OR utc_offset < interval '-14 hours' OR utc_offset > interval '14 hours' THEN
        RAISE EXCEPTION 'utc_offset must be between -14:00 and +14:00'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', coalesce(utc_offset::text, 'NULL'));
    END IF;
    IF identifier IS NULL THEN
        RAISE EXCEPTION 'identifier must not be NULL' USING ERRCODE = '22004', HINT = 'Pass '''' for none.';
    END IF;
    IF creation_time IS NULL OR NOT pg_catalog.isfinite(creation_time) THEN
        RAISE EXCEPTION 'creation_time must be a finite timestamp' USING ERRCODE = '22023';
    END IF;
    IF valid_until IS NOT NULL AND valid_until <= creation_time THEN
        RAISE EXCEPTION 'valid_until must be later than creation_time'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('creation_time %s, valid_until %s.', creation_time, valid_until);
    END IF;
    -- details: an object of non-empty keys with string values, within the
    -- documented size.
    IF details IS NULL OR pg_catalog.jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION 'details must be a JSON object of string values'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('Got %s.', coalesce(pg_catalog.jsonb_typeof(details), 'NULL'));
    END IF;
    SELECT e.key, pg_catalog.jsonb_typeof(e.value) INTO bad_key, bad_type
      FROM pg_catalog.jsonb_each(details) e
     WHERE e.key = '' OR pg_catalog.jsonb_typeof(e.value) <> 'string'
     LIMIT 1;
    IF bad_key = '' THEN
        RAISE EXCEPTION 'details keys must not be empty' USING ERRCODE = '22023';
    ELSIF bad_key IS NOT NULL THEN
        RAISE EXCEPTION 'details value for key "%" must be a string, not %', (CASE WHEN pg_catalog.length(bad_key) > 64 THEN pg_catalog.left(bad_key, 64) || '...' ELSE bad_key END), bad_type
            USING ERRCODE = '22023', HINT = 'Quote numbers and booleans.';
    END IF;
    IF pg_catalog.octet_length(details::text) > sessions.telemetry_details_limit() THEN
        RAISE EXCEPTION 'details too large: % bytes', pg_catalog.octet_length(details::text)
            USING ERRCODE = '22001',
                  DETAIL = pg_catalog.format('The limit is %s bytes of JSON text.', sessions.telemetry_details_limit());
    END IF;

    INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until, doc)
    VALUES ('telemetry', data_source, NULL, 'LIVE', creation_time, valid_until,
            pg_catalog.jsonb_build_object('type', type, 'version', version,
                               'utc_offset', extract(epoch FROM utc_offset)::int,
                               'identifier', identifier, 'details', details))
    RETURNING * INTO r;

    FOREACH a IN ARRAY coalesce(associate_keys, '{}') LOOP
        PERFORM sessions.telemetry_link(r, a);
    END LOOP;
    RETURN r.session_key;
END
$$;
COMMENT ON FUNCTION sessions.create_session(text, text, int, interval, text, jsonb, uuid[], timestamptz, timestamptz) IS
  'Creates a telemetry session (Stream API CreateSession) and returns its database-allocated key';

/*
 * update_session_details
 *		Merges details: string values set keys, JSON null removes a key.
 */
CREATE FUNCTION sessions.update_session_details(session_key uuid, details jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    merged jsonb;
    bad_key text;
    bad_type text;
BEGIN
    -- details: an object of non-empty keys with string values or JSON
    -- null (remove the key); the merged document within the size limit.
    IF details IS NULL OR pg_catalog.jsonb_typeof(details) <> 'object' THEN
        RAISE EXCEPTION 'details must be a JSON object of string values'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('Got %s.', coalesce(pg_catalog.jsonb_typeof(details), 'NULL'));
    END IF;
    SELECT e.key, pg_catalog.jsonb_typeof(e.value) INTO bad_key, bad_type
      FROM pg_catalog.jsonb_each(details) e
     WHERE e.key = '' OR pg_catalog.jsonb_typeof(e.value) NOT IN ('string', 'null')
     LIMIT 1;
    IF bad_key = '' THEN
        RAISE EXCEPTION 'details keys must not be empty' USING ERRCODE = '22023';
    ELSIF bad_key IS NOT NULL THEN
        RAISE EXCEPTION 'details value for key "%" must be a string, not %', (CASE WHEN pg_catalog.length(bad_key) > 64 THEN pg_catalog.left(bad_key, 64) || '...' ELSE bad_key END), bad_type
            USING ERRCODE = '22023', HINT = 'Pass JSON null to remove a key; quote numbers and booleans.';
    END IF;
    r := sessions.telemetry_row(session_key, NULL, true);
    merged := pg_catalog.jsonb_strip_nulls(coalesce(r.doc -> 'details', '{}') || details);
    IF pg_catalog.octet_length(merged::text) > sessions.telemetry_details_limit() THEN
        RAISE EXCEPTION 'details too large: % bytes', pg_catalog.octet_length(merged::text)
            USING ERRCODE = '22001',
                  DETAIL = pg_catalog.format('The limit is %s bytes of JSON text.', sessions.telemetry_details_limit());
    END IF;
    UPDATE sessions.store s
       SET doc = pg_catalog.jsonb_set(s.doc, '{details}', merged), last_updated = pg_catalog.now()
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
END
$$;
COMMENT ON FUNCTION sessions.update_session_details(uuid, jsonb) IS
  'Merges string details into a live telemetry session; a key given as JSON null is removed';

/*
 * update_session_identifier
 *		Stream API UpdateSessionIdentifier.
 */
CREATE FUNCTION sessions.update_session_identifier(session_key uuid, identifier text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF identifier IS NULL THEN
        RAISE EXCEPTION 'identifier must not be NULL' USING ERRCODE = '22004', HINT = 'Pass '''' for none.';
    END IF;
    r := sessions.telemetry_row(session_key, NULL, true);
    UPDATE sessions.store s
       SET doc = pg_catalog.jsonb_set(s.doc, '{identifier}', pg_catalog.to_jsonb(identifier)), last_updated = pg_catalog.now()
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
END
$$;
COMMENT ON FUNCTION sessions.update_session_identifier(uuid, text) IS
  'Sets the identifier of a live telemetry session';

/*
 * add_associate_session
 *		Stream API AddAssociateSession, with cycle refusal.
 */
CREATE FUNCTION sessions.add_associate_session(session_key uuid, associate_key uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    PERFORM sessions.telemetry_link(sessions.telemetry_row(session_key, NULL, true), associate_key);
END
$$;
COMMENT ON FUNCTION sessions.add_associate_session(uuid, uuid) IS
  'Lists associate_key as an associate of a live telemetry session; duplicates ignored, cycles refused (23514)';

/*
 * associates / parents
 *		The direct associates of a session, and the sessions that list it.
 */
-- VOLATILE, not STABLE: a fresh snapshot per call, so a session created
-- earlier in the same statement is found (docs/telemetry.md, "One statement").
-- PL/pgSQL, whose statements' parameters Citus binds (docs/scale-out.md).
CREATE FUNCTION sessions.associates(session_key uuid)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT a.associate_key FROM sessions.telemetry_associate a
     WHERE a.session_key = associates.session_key
     ORDER BY a.associate_key;
END
$$;
COMMENT ON FUNCTION sessions.associates(uuid) IS 'Keys of the sessions a telemetry session lists as associates';

-- VOLATILE, not STABLE: a fresh snapshot per call, so a session created
-- earlier in the same statement is found (docs/telemetry.md, "One statement").
-- PL/pgSQL, whose statements' parameters Citus binds (docs/scale-out.md).
CREATE FUNCTION sessions.parents(session_key uuid)
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT a.session_key FROM sessions.telemetry_associate a
     WHERE a.associate_key = parents.session_key
     ORDER BY a.session_key;
END
$$;
COMMENT ON FUNCTION sessions.parents(uuid) IS 'Keys of the telemetry sessions that list this session as an associate';

/*
 * end_session
 *		Stream API EndSession: true when this call ended the session, false
 *		when it had already ended (or expired).
 */
CREATE FUNCTION sessions.end_session(
    session_key uuid,
    data_source text DEFAULT NULL,
    termination_time timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF data_source = '' THEN
        RAISE EXCEPTION 'data_source must not be empty' USING ERRCODE = '22023', HINT = 'Pass NULL to skip the check.';
    END IF;
    IF termination_time IS NULL OR NOT pg_catalog.isfinite(termination_time) THEN
        RAISE EXCEPTION 'termination_time must be a finite timestamp' USING ERRCODE = '22023';
    END IF;
    r := sessions.telemetry_row(session_key, data_source, false);
    IF r.ended_at IS NOT NULL THEN
        RETURN false;
    END IF;
    IF termination_time < r.started_at THEN
        RAISE EXCEPTION 'termination_time is before the session''s creation_time'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('creation_time %s, termination_time %s.', r.started_at, termination_time);
    END IF;
    UPDATE sessions.store s
       SET status = 'ENDED', ended_at = termination_time, last_updated = pg_catalog.now()
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN true;
END
$$;
COMMENT ON FUNCTION sessions.end_session(uuid, text, timestamptz) IS
  'Ends a telemetry session: true when ended now, false when already ended; 22023 when data_source does not match';

/*
 * telemetry_sessions
 *		Telemetry rows with their state as of now: a LIVE row past
 *		valid_until reads as EXPIRED, terminated at valid_until. Every read
 *		below goes through this view.
 */
CREATE VIEW sessions.telemetry_sessions WITH (security_invoker = true) AS
SELECT s.session_key,
       s.namespace AS data_source,
       s.doc ->> 'identifier' AS identifier,
       s.doc ->> 'type' AS type,
       (s.doc ->> 'version')::int AS version,
       pg_catalog.make_interval(secs => (s.doc ->> 'utc_offset')::int) AS utc_offset,
       coalesce(s.doc -> 'details', '{}') AS details,
       s.started_at AS creation_time,
       CASE WHEN s.ended_at IS NULL AND s.valid_until <= pg_catalog.now()
            THEN greatest(s.valid_until, s.started_at) ELSE s.ended_at END AS termination_time,
       CASE WHEN s.ended_at IS NULL AND s.valid_until <= pg_catalog.now() THEN 'EXPIRED' ELSE s.status END AS status,
       s.valid_until,
       s.last_updated
  FROM sessions.store s
 WHERE s.kind = 'telemetry';
COMMENT ON VIEW sessions.telemetry_sessions IS
  'Telemetry sessions with their state as of now (a LIVE row past valid_until reads as EXPIRED)';
GRANT SELECT ON sessions.telemetry_sessions TO session_analytics_reader;

/*
 * session_info
 *		Stream API GetSessionInfo as one JSON document.
 */
-- VOLATILE, not STABLE: a fresh snapshot per call, so a session created
-- earlier in the same statement is found (docs/telemetry.md, "One statement").
CREATE FUNCTION sessions.session_info(session_key uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    t sessions.telemetry_sessions;
BEGIN
    SELECT * INTO t FROM sessions.telemetry_sessions v WHERE v.session_key = session_info.session_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'telemetry session % does not exist', session_key USING ERRCODE = 'P0002';
    END IF;
    RETURN pg_catalog.jsonb_build_object(
        'session_key', t.session_key,
        'data_source', t.data_source,
        'identifier', t.identifier,
        'type', t.type,
        'version', t.version,
        'associate_session_keys',
            (SELECT coalesce(pg_catalog.jsonb_agg(k ORDER BY k), '[]') FROM sessions.associates(t.session_key) k),
        'is_complete', t.termination_time IS NOT NULL,
        'status', t.status,
        'details', t.details,
        'utc_offset', t.utc_offset,
        'creation_time', t.creation_time,
        'termination_time', t.termination_time,
        'duration', coalesce(t.termination_time, pg_catalog.now()) - t.creation_time,
        'valid_until', t.valid_until);
END
$$;
COMMENT ON FUNCTION sessions.session_info(uuid) IS
  'Telemetry session as JSON: GetSessionInfoResponse fields plus status, duration and valid_until';

/*
 * current_sessions
 *		Stream API GetCurrentSessions in one query, optionally by data
 *		source; ended and expired sessions only when include_complete.
 */
/*
 * current_sessions_rows
 *		The rows of current_sessions (its arguments renamed: PL/pgSQL refuses
 *		an argument named as a result column); PL/pgSQL because Citus binds
 *		the parameters of its statements, not of SQL functions
 *		(docs/scale-out.md).
 */
CREATE FUNCTION sessions.current_sessions_rows(p_data_source text, p_include_complete boolean)
RETURNS TABLE (key uuid, data_source text, identifier text, type text,
               creation_time timestamptz, termination_time timestamptz, is_complete boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT t.session_key, t.data_source, t.identifier, t.type, t.creation_time, t.termination_time,
           t.termination_time IS NOT NULL
      FROM sessions.telemetry_sessions t
     WHERE (p_data_source IS NULL OR t.data_source OPERATOR(pg_catalog.=) p_data_source)
       AND (p_include_complete OR t.termination_time IS NULL)
     ORDER BY t.creation_time DESC, t.session_key;
END
$$;
COMMENT ON FUNCTION sessions.current_sessions_rows(text, boolean) IS
  'The rows of sessions.current_sessions (internal to it; PL/pgSQL so that Citus binds its parameters)';

CREATE FUNCTION sessions.current_sessions(data_source text DEFAULT NULL, include_complete boolean DEFAULT false)
RETURNS TABLE (key uuid, data_source text, identifier text, type text,
               creation_time timestamptz, termination_time timestamptz, is_complete boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT * FROM sessions.current_sessions_rows($1, $2)
$$;
COMMENT ON FUNCTION sessions.current_sessions(text, boolean) IS
  'Telemetry sessions (live only unless include_complete), newest first';

/*
 * telemetry_daily
 *		Sessions started and their total duration per local day, by data
 *		source and type, computed with the analytics aggregate
 *		(session_stats_agg, kWh NULL = unclassified). The day is local to each
 *		session's utc_offset (sessions are grouped by offset, each group in
 *		the fixed POSIX zone of that offset) or to time_zone when given.
 *		Duration counts ended sessions (expired ones end at valid_until);
 *		live ones are counted in sessions_live.
 */
CREATE FUNCTION sessions.telemetry_daily(
    from_time timestamptz DEFAULT NULL,
    to_time timestamptz DEFAULT NULL,
    time_zone text DEFAULT NULL)
RETURNS TABLE (day date, data_source text, type text, sessions_started bigint,
               sessions_live bigint, total_duration interval)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    IF time_zone IS NOT NULL THEN
        BEGIN
            PERFORM pg_catalog.now() AT TIME ZONE time_zone;
        EXCEPTION WHEN invalid_parameter_value OR string_data_right_truncation THEN
            RAISE EXCEPTION 'time zone "%" is not recognized', (CASE WHEN pg_catalog.length(time_zone) > 64 THEN pg_catalog.left(time_zone, 64) || '...' ELSE time_zone END)
                USING ERRCODE = '22023', HINT = 'Use a name from pg_timezone_names (e.g. Europe/London) or a POSIX zone.';
        END;
    END IF;
    RETURN QUERY
    WITH g AS (
        SELECT t.data_source AS ds, t.type AS ty,
               sessions.session_stats_agg(t.creation_time, t.termination_time, NULL::float8,
                   coalesce(time_zone,
                            -- POSIX offsets count west of UTC: +02:00 is 'UTC-02:00:00'.
                            'UTC' || CASE WHEN t.utc_offset > interval '0' THEN '-' ELSE '+' END
                                  || pg_catalog.to_char(pg_catalog.abs(extract(epoch FROM t.utc_offset)) * interval '1 second', 'HH24:MI:SS'))) AS st
          FROM sessions.telemetry_sessions t
         WHERE (from_time IS NULL OR t.creation_time >= from_time)
           AND (to_time IS NULL OR t.creation_time < to_time)
         GROUP BY t.data_source, t.type, CASE WHEN time_zone IS NULL THEN t.utc_offset END
    )
    SELECT d.day, g.ds, g.ty, pg_catalog.sum(d.sessions)::bigint, pg_catalog.sum(d.active)::bigint,
           coalesce(pg_catalog.sum(d.avg_duration * d.completed), interval '0')
      FROM g CROSS JOIN LATERAL sessions.days(g.st) d
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION sessions.telemetry_daily(timestamptz, timestamptz, text) IS
  'Telemetry sessions started and total duration per local day (session utc_offset or time_zone), by data source and type';

-- Privileges: no function is executable by PUBLIC. telemetry_row and
-- telemetry_link are helpers of the writer functions above, which run as
-- their caller (SECURITY INVOKER, so row-level security applies to every
-- read and write they make), so writers need EXECUTE on them; called
-- directly they lock, read and write only rows the caller could reach with
-- its own table privileges (docs/security.md, test/privileges.approved).
REVOKE ALL ON FUNCTION sessions.telemetry_details_limit(),
    sessions.telemetry_row(uuid, text, boolean), sessions.telemetry_link(sessions.store, uuid),
    sessions.create_session(text, text, int, interval, text, jsonb, uuid[], timestamptz, timestamptz),
    sessions.update_session_details(uuid, jsonb), sessions.update_session_identifier(uuid, text),
    sessions.add_associate_session(uuid, uuid), sessions.end_session(uuid, text, timestamptz),
    sessions.associates(uuid), sessions.parents(uuid), sessions.session_info(uuid),
    sessions.current_sessions(text, boolean), sessions.current_sessions_rows(text, boolean),
    sessions.telemetry_daily(timestamptz, timestamptz, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.telemetry_details_limit(), sessions.associates(uuid), sessions.parents(uuid),
    sessions.session_info(uuid), sessions.current_sessions(text, boolean), sessions.current_sessions_rows(text, boolean),
    sessions.telemetry_daily(timestamptz, timestamptz, text)
  TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.telemetry_row(uuid, text, boolean), sessions.telemetry_link(sessions.store, uuid),
    sessions.create_session(text, text, int, interval, text, jsonb, uuid[], timestamptz, timestamptz),
    sessions.update_session_details(uuid, jsonb), sessions.update_session_identifier(uuid, text),
    sessions.add_associate_session(uuid, uuid), sessions.end_session(uuid, text, timestamptz)
  TO session_analytics_writer;

-- Calls in a switching user's terms -------------------------------------------
-- The Stream API gives a session key as a string and a UTC offset as a
-- Duration of seconds. Overloads accept both and answer with the
-- extension's own errors, without making any call that resolved before
-- ambiguous (docs/telemetry.md, "Keys as text, offsets in seconds").

/*
 * telemetry_key
 *		A session key given as text, parsed as uuid. Anything uuid input
 *		would refuse (the regular expression is its grammar: 32 hex digits,
 *		a hyphen allowed after every fourth but the last, optional braces)
 *		is 22P02 naming the argument, not PostgreSQL's "invalid input syntax
 *		for type uuid". NULL stays NULL for the caller's own check.
 */
CREATE FUNCTION sessions.telemetry_key(value text, argument text)
RETURNS uuid
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF value !~ '^([0-9A-Fa-f]{4}(-?[0-9A-Fa-f]{4}){7}|\{[0-9A-Fa-f]{4}(-?[0-9A-Fa-f]{4}){7}\})$' THEN
        RAISE EXCEPTION '% "%" is not a UUID', argument, (CASE WHEN pg_catalog.length(value) > 64 THEN pg_catalog.left(value, 64) || '...' ELSE value END)
            USING ERRCODE = '22P02',
                  DETAIL = 'A session key is a UUID such as 0b7c3e4e-6a4f-4f4e-9c1e-2f3d4b5a6c7d.',
                  HINT = 'Pass the key sessions.create_session() returned; a name such as this belongs in identifier (sessions.current_sessions() lists keys with their identifiers).';
    END IF;
    RETURN value::uuid;
END
$$;
COMMENT ON FUNCTION sessions.telemetry_key(text, text) IS
  'A telemetry session key given as text, as uuid; 22P02 naming the argument (session_key, associate_key) when it is not a UUID';

CREATE FUNCTION sessions.update_session_details(session_key text, details jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.update_session_details(sessions.telemetry_key(session_key, 'session_key'), details);
END;
COMMENT ON FUNCTION sessions.update_session_details(text, jsonb) IS
  'update_session_details with the key as text (22P02 naming session_key when it is not a UUID)';

CREATE FUNCTION sessions.update_session_identifier(session_key text, identifier text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.update_session_identifier(sessions.telemetry_key(session_key, 'session_key'), identifier);
END;
COMMENT ON FUNCTION sessions.update_session_identifier(text, text) IS
  'update_session_identifier with the key as text (22P02 naming session_key when it is not a UUID)';

CREATE FUNCTION sessions.add_associate_session(session_key text, associate_key text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.add_associate_session(sessions.telemetry_key(session_key, 'session_key'),
                                          sessions.telemetry_key(associate_key, 'associate_key'));
END;
COMMENT ON FUNCTION sessions.add_associate_session(text, text) IS
  'add_associate_session with both keys as text (22P02 naming session_key or associate_key when not a UUID)';

CREATE FUNCTION sessions.end_session(
    session_key text,
    data_source text DEFAULT NULL,
    termination_time timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.end_session(sessions.telemetry_key(session_key, 'session_key'), data_source, termination_time);
END;
COMMENT ON FUNCTION sessions.end_session(text, text, timestamptz) IS
  'end_session with the key as text (22P02 naming session_key when it is not a UUID)';

CREATE FUNCTION sessions.session_info(session_key text)
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.session_info(sessions.telemetry_key(session_key, 'session_key'));
END;
COMMENT ON FUNCTION sessions.session_info(text) IS
  'session_info with the key as text (22P02 naming session_key when it is not a UUID)';

CREATE FUNCTION sessions.associates(session_key text)
RETURNS SETOF uuid
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT k FROM sessions.associates(sessions.telemetry_key(session_key, 'session_key')) k;
END;
COMMENT ON FUNCTION sessions.associates(text) IS
  'associates with the key as text (22P02 naming session_key when it is not a UUID)';

CREATE FUNCTION sessions.parents(session_key text)
RETURNS SETOF uuid
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT k FROM sessions.parents(sessions.telemetry_key(session_key, 'session_key')) k;
END;
COMMENT ON FUNCTION sessions.parents(text) IS
  'parents with the key as text (22P02 naming session_key when it is not a UUID)';

/*
 * utc_offset
 *		The type of create_session's utc_offset in its second signature: an
 *		interval (same storage and text form), in the timespan category but
 *		not preferred, with implicit casts from the integer types that read
 *		the integer as seconds (the Stream API's Duration { Seconds }).
 *		Why a type and not an int overload: an unknown literal ('0',
 *		'02:00') or untyped parameter in utc_offset's place must still pick
 *		the interval signature, and PostgreSQL prefers interval over another
 *		type of its category while it cannot choose between interval and int.
 */
CREATE TYPE sessions.utc_offset;
CREATE FUNCTION sessions.utc_offset_in(cstring, oid, int4) RETURNS sessions.utc_offset
LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'interval_in';
COMMENT ON FUNCTION sessions.utc_offset_in(cstring, oid, int4) IS 'Text input of utc_offset (interval input)';
CREATE FUNCTION sessions.utc_offset_out(sessions.utc_offset) RETURNS cstring
LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'interval_out';
COMMENT ON FUNCTION sessions.utc_offset_out(sessions.utc_offset) IS 'Text output of utc_offset (interval output)';
CREATE TYPE sessions.utc_offset (
    INPUT = sessions.utc_offset_in,
    OUTPUT = sessions.utc_offset_out,
    LIKE = pg_catalog.interval,
    CATEGORY = 'T',
    PREFERRED = false);
COMMENT ON TYPE sessions.utc_offset IS
  'UTC offset of create_session: an interval, or an integer of seconds (implicit casts from smallint, integer, bigint)';
CREATE CAST (sessions.utc_offset AS interval) WITHOUT FUNCTION;
CREATE CAST (interval AS sessions.utc_offset) WITHOUT FUNCTION;

/*
 * utc_offset(seconds)
 *		Integer seconds as a utc_offset, the implicit casts' function. The
 *		range is checked here (an int8 would overflow make_interval before
 *		create_session could say what is wrong).
 */
CREATE FUNCTION sessions.utc_offset(seconds bigint)
RETURNS sessions.utc_offset
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    IF seconds NOT BETWEEN -50400 AND 50400 THEN
        RAISE EXCEPTION 'utc_offset must be between -14:00 and +14:00'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('Got %s seconds; an integer utc_offset counts seconds (-50400 to 50400).', seconds);
    END IF;
    RETURN pg_catalog.make_interval(secs => seconds)::sessions.utc_offset;
END
$$;
COMMENT ON FUNCTION sessions.utc_offset(bigint) IS
  'Integer seconds as a utc_offset (22023 outside -50400 to 50400); the cast from bigint';
CREATE FUNCTION sessions.utc_offset(seconds integer)
RETURNS sessions.utc_offset
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sessions.utc_offset(seconds::pg_catalog.int8);
COMMENT ON FUNCTION sessions.utc_offset(integer) IS 'Integer seconds as a utc_offset; the cast from integer';
CREATE FUNCTION sessions.utc_offset(seconds smallint)
RETURNS sessions.utc_offset
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sessions.utc_offset(seconds::pg_catalog.int8);
COMMENT ON FUNCTION sessions.utc_offset(smallint) IS 'Integer seconds as a utc_offset; the cast from smallint';
CREATE CAST (bigint AS sessions.utc_offset) WITH FUNCTION sessions.utc_offset(bigint) AS IMPLICIT;
CREATE CAST (integer AS sessions.utc_offset) WITH FUNCTION sessions.utc_offset(integer) AS IMPLICIT;
CREATE CAST (smallint AS sessions.utc_offset) WITH FUNCTION sessions.utc_offset(smallint) AS IMPLICIT;

/*
 * create_session (second signature)
 *		The same function for a utc_offset that is an integer of seconds.
 *		data_source is varchar so that a call that omits utc_offset, or
 *		gives it as an unknown literal, still resolves to the first signature
 *		(text is preferred over varchar): the two never tie. Whichever
 *		PostgreSQL picks, the result is the same.
 */
CREATE FUNCTION sessions.create_session(
    data_source varchar,
    type text DEFAULT 'Session',
    version int DEFAULT 1,
    utc_offset sessions.utc_offset DEFAULT '0',
    identifier text DEFAULT '',
    details jsonb DEFAULT '{}',
    associate_keys uuid[] DEFAULT '{}',
    creation_time timestamptz DEFAULT pg_catalog.now(),
    valid_until timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE sql
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT sessions.create_session(data_source::pg_catalog.text, type, version, utc_offset::pg_catalog.interval,
                                   identifier, details, associate_keys, creation_time, valid_until);
END;
COMMENT ON FUNCTION sessions.create_session(varchar, text, int, sessions.utc_offset, text, jsonb, uuid[], timestamptz, timestamptz) IS
  'create_session for a utc_offset given as integer seconds (the Stream API''s Duration { Seconds }); same result as the interval signature';

REVOKE ALL ON FUNCTION sessions.telemetry_key(text, text),
    sessions.update_session_details(text, jsonb), sessions.update_session_identifier(text, text),
    sessions.add_associate_session(text, text), sessions.end_session(text, text, timestamptz),
    sessions.session_info(text), sessions.associates(text), sessions.parents(text),
    sessions.utc_offset_in(cstring, oid, int4), sessions.utc_offset_out(sessions.utc_offset),
    sessions.utc_offset(bigint), sessions.utc_offset(integer), sessions.utc_offset(smallint),
    sessions.create_session(varchar, text, int, sessions.utc_offset, text, jsonb, uuid[], timestamptz, timestamptz)
  FROM PUBLIC;
-- telemetry_key is pure (parses its argument): readers need it for the
-- text forms of their look-ups.
GRANT EXECUTE ON FUNCTION sessions.telemetry_key(text, text),
    sessions.session_info(text), sessions.associates(text), sessions.parents(text)
  TO session_analytics_reader;
-- The type, its I/O and casts serve create_session only: writers'.
REVOKE ALL ON TYPE sessions.utc_offset FROM PUBLIC;
GRANT USAGE ON TYPE sessions.utc_offset TO session_analytics_writer;
GRANT EXECUTE ON FUNCTION sessions.update_session_details(text, jsonb), sessions.update_session_identifier(text, text),
    sessions.add_associate_session(text, text), sessions.end_session(text, text, timestamptz),
    sessions.utc_offset_in(cstring, oid, int4), sessions.utc_offset_out(sessions.utc_offset),
    sessions.utc_offset(bigint), sessions.utc_offset(integer), sessions.utc_offset(smallint),
    sessions.create_session(varchar, text, int, sessions.utc_offset, text, jsonb, uuid[], timestamptz, timestamptz)
  TO session_analytics_writer;
