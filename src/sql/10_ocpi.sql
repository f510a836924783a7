-- session_analytics: OCPI 2.2.1 / 2.3.0 Sessions module.
--
-- Sessions live in sessions.store (kind 'ocpi'): namespace = upper(country_code)
-- || '-' || upper(party_id), external_id = upper(id), doc = the Session exactly
-- as received. Validation (ocpi_validate.c) and the write paths (ocpi_store.c) are in C.

-- Validation -------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_validate(session jsonb, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate(jsonb, text) IS
  'True when session is a valid OCPI Session of version (2.2.1 or 2.3.0); otherwise raises an error listing its problems';

-- The sender's JSON text: problems are listed in the order of its members
-- (jsonb keeps its own key order). Untyped literals resolve to this overload.
CREATE FUNCTION sessions.ocpi_validate(session text, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate(text, text) IS
  'ocpi_validate of the sender''s JSON text: problems are listed in the order its members were written';

CREATE FUNCTION sessions.ocpi_validate_charging_preferences(preferences jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate_charging_preferences'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate_charging_preferences(jsonb) IS
  'True when preferences is a well-formed OCPI ChargingPreferences object; otherwise raises an error naming the field';

-- Write paths ------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session jsonb, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put(text, text, text, jsonb, text) IS
  'OCPI PUT: validate the whole Session and create or replace it (charging_periods replaced); returns the stored object';

CREATE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session text, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put(text, text, text, text, text) IS
  'ocpi_put of the sender''s JSON text: problems are listed in the order its members were written';

CREATE FUNCTION sessions.ocpi_put_many(country_code text, party_id text, docs jsonb[],
                                       version text DEFAULT '2.2.1')
RETURNS TABLE (ordinality integer, session_id text, sqlstate text, status_code integer,
               message text, detail text)
AS 'MODULE_PATHNAME', 'sa_ocpi_put_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put_many(text, text, jsonb[], text) IS
  'Bulk OCPI PUT of many Sessions of one party in one upsert: one row per document (ordinality, id, SQLSTATE, OCPI status code 1000 or 2001, and for a refused document the errmsg and errdetail ocpi_put would raise); refused documents are not stored and do not stop the others; of repeated ids the last valid one is stored';

CREATE FUNCTION sessions.ocpi_patch(country_code text, party_id text, session_id text, patch jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_patch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_patch(text, text, text, jsonb) IS
  'OCPI PATCH: last_updated required; charging_periods appended, other members replaced whole; the result must be a valid Session';

-- Read paths -------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_list(date_from timestamptz, date_to timestamptz DEFAULT NULL,
                                   "offset" int DEFAULT 0, "limit" int DEFAULT 50,
                                   country_code text DEFAULT NULL, party_id text DEFAULT NULL)
RETURNS TABLE (data jsonb, total_count bigint, is_last_page boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    ns_prefix text;
    ns_party  text;
BEGIN
    IF "offset" IS NULL OR "offset" < 0 OR "limit" IS NULL OR "limit" < 0 THEN
        RAISE EXCEPTION 'invalid OCPI list paging: offset % and limit %', "offset", "limit"
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).',
                  HINT = 'offset and limit must be non-negative integers.';
    END IF;
    IF date_from IS NOT NULL AND date_to IS NOT NULL AND date_to < date_from THEN
        RAISE EXCEPTION 'invalid OCPI list window: date_to % is before date_from %', date_to, date_from
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).';
    END IF;
    ns_prefix := pg_catalog.upper(country_code COLLATE "C") || '-';
    ns_party := '-' || pg_catalog.upper(party_id COLLATE "C");

    RETURN QUERY
    WITH matches AS (
        SELECT s.doc, s.last_updated, s.namespace, s.external_id
          FROM sessions.store s
         WHERE s.kind = 'ocpi'
           AND (date_from IS NULL OR s.last_updated >= date_from)
           AND (date_to IS NULL OR s.last_updated < date_to)
           AND (ns_prefix IS NULL OR pg_catalog.starts_with(s.namespace, ns_prefix))
           AND (ns_party IS NULL OR pg_catalog.right(s.namespace, pg_catalog.length(ns_party)) = ns_party)
    ), counted AS (
        SELECT pg_catalog.count(*) AS n FROM matches
    ), page AS (
        SELECT m.doc, m.last_updated, m.namespace, m.external_id
          FROM matches m
         ORDER BY m.last_updated, m.namespace, m.external_id
        OFFSET "offset" LIMIT "limit"
    )
    SELECT COALESCE((SELECT pg_catalog.jsonb_agg(p.doc ORDER BY p.last_updated, p.namespace, p.external_id) FROM page p),
                    '[]'::jsonb),
           c.n,
           "offset"::bigint + "limit" >= c.n
      FROM counted c;
END;
$$;
COMMENT ON FUNCTION sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text) IS
  'OCPI GET list: one page (JSON array, oldest last_updated first) of Sessions with last_updated in [date_from, date_to), the total count and whether this is the last page';

-- Charging preferences -----------------------------------------------------------

CREATE TABLE sessions.ocpi_charging_preferences (
    session_key  uuid        NOT NULL,
    namespace    text        NOT NULL,
    preferences  jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT ocpi_charging_preferences_pkey PRIMARY KEY (session_key, namespace)
);
-- No foreign key to the store: it would forbid TRUNCATE of the store and add
-- referential triggers to every store update. Session keys are never reused,
-- so rows of deleted sessions are inert (join on the store to read them).
COMMENT ON TABLE sessions.ocpi_charging_preferences IS
  'The last accepted OCPI ChargingPreferences of a session, as received';
SELECT pg_catalog.pg_extension_config_dump('sessions.ocpi_charging_preferences', '');

ALTER TABLE sessions.ocpi_charging_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY ocpi_charging_preferences_by_namespace ON sessions.ocpi_charging_preferences
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));

-- GET, with the stored preferences on request (after their table: the body names it).
CREATE FUNCTION sessions.ocpi_get(country_code text, party_id text, session_id text,
                                  with_preferences boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r pg_catalog.jsonb;
BEGIN
    -- PL/pgSQL, not SQL: Citus binds the parameters of its statements, so
    -- the look-up is routed to the namespace's shard (docs/scale-out.md).
    SELECT CASE WHEN ocpi_get.with_preferences AND p.preferences IS NOT NULL
                THEN s.doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('charging_preferences', p.preferences)
                ELSE s.doc END
      INTO r
      FROM sessions.store s
      LEFT JOIN sessions.ocpi_charging_preferences p
        ON p.session_key OPERATOR(pg_catalog.=) s.session_key AND p.namespace OPERATOR(pg_catalog.=) s.namespace
     WHERE s.namespace OPERATOR(pg_catalog.=)
               (pg_catalog.upper(ocpi_get.country_code COLLATE "C") OPERATOR(pg_catalog.||) '-'
                OPERATOR(pg_catalog.||) pg_catalog.upper(ocpi_get.party_id COLLATE "C"))
       AND s.kind OPERATOR(pg_catalog.=) 'ocpi'
       AND s.external_id OPERATOR(pg_catalog.=) pg_catalog.upper(ocpi_get.session_id COLLATE "C");
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.ocpi_get(text, text, text, boolean) IS
  'OCPI GET: the Session as stored, NULL when unknown (keys compare case-insensitively); with_preferences: with its stored charging_preferences';

CREATE FUNCTION sessions.ocpi_put_charging_preferences(country_code text, party_id text,
                                                       session_id text, preferences jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    s record;
    profile text;
    departure timestamptz;
BEGIN
    IF country_code IS NULL OR party_id IS NULL OR session_id IS NULL OR preferences IS NULL THEN
        RAISE EXCEPTION 'arguments of ocpi_put_charging_preferences must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).';
    END IF;
    PERFORM sessions.ocpi_validate_charging_preferences(preferences);

    SELECT st.session_key, st.namespace, st.status, st.started_at INTO s
      FROM sessions.store st
     WHERE st.namespace = pg_catalog.upper(country_code COLLATE "C") || '-' || pg_catalog.upper(party_id COLLATE "C")
       AND st.kind = 'ocpi'
       AND st.external_id = pg_catalog.upper(session_id COLLATE "C")
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'OCPI session %/%/% not found',  -- at most 64 characters of each key, as ocpi_patch
              pg_catalog.left(country_code, 64) || CASE WHEN pg_catalog.length(country_code) > 64 THEN '...' ELSE '' END,
              pg_catalog.left(party_id, 64) || CASE WHEN pg_catalog.length(party_id) > 64 THEN '...' ELSE '' END,
              pg_catalog.left(session_id, 64) || CASE WHEN pg_catalog.length(session_id) > 64 THEN '...' ELSE '' END
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'OCPI status code 2000 (Generic client error), HTTP 404.',
                  HINT = 'Charging preferences need a known session.';
    END IF;

    profile := preferences ->> 'profile_type';
    -- OCPI DateTimes are UTC with or without the 'Z'.
    departure := (pg_catalog.rtrim(preferences ->> 'departure_time', 'Z') || '+00')::timestamptz;
    -- The policy: a finished session cannot be steered; profiles other than
    -- the four of the spec are not supported; CHEAP and GREEN plan against a
    -- deadline and an amount of energy; the deadline must lie after the start.
    IF s.status IN ('COMPLETED', 'INVALID') THEN
        RETURN 'NOT_POSSIBLE';
    ELSIF profile NOT IN ('CHEAP', 'FAST', 'GREEN', 'REGULAR') THEN
        RETURN 'PROFILE_TYPE_NOT_SUPPORTED';
    ELSIF profile IN ('CHEAP', 'GREEN') AND departure IS NULL THEN
        RETURN 'DEPARTURE_REQUIRED';
    ELSIF profile IN ('CHEAP', 'GREEN') AND pg_catalog.jsonb_typeof(preferences -> 'energy_need') IS DISTINCT FROM 'number' THEN
        RETURN 'ENERGY_NEED_REQUIRED';
    ELSIF departure IS NOT NULL AND departure <= s.started_at THEN
        RETURN 'NOT_POSSIBLE';
    END IF;

    -- The stamp comes in with the row: Citus allows no non-IMMUTABLE
    -- function in DO UPDATE SET of a distributed table (docs/scale-out.md).
    INSERT INTO sessions.ocpi_charging_preferences AS p (session_key, namespace, preferences, updated_at)
    VALUES (s.session_key, s.namespace, ocpi_put_charging_preferences.preferences, pg_catalog.now())
    ON CONFLICT ON CONSTRAINT ocpi_charging_preferences_pkey
    DO UPDATE SET preferences = excluded.preferences, updated_at = excluded.updated_at;
    RETURN 'ACCEPTED';
END;
$$;
COMMENT ON FUNCTION sessions.ocpi_put_charging_preferences(text, text, text, jsonb) IS
  'OCPI PUT charging_preferences: validate, store with the session when ACCEPTED, and return the ChargingPreferencesResponse';

-- Privileges ---------------------------------------------------------------------

REVOKE ALL ON FUNCTION sessions.ocpi_validate(jsonb, text),
                       sessions.ocpi_validate(text, text),
                       sessions.ocpi_validate_charging_preferences(jsonb),
                       sessions.ocpi_put(text, text, text, jsonb, text),
                       sessions.ocpi_put(text, text, text, text, text),
                       sessions.ocpi_put_many(text, text, jsonb[], text),
                       sessions.ocpi_patch(text, text, text, jsonb),
                       sessions.ocpi_put_charging_preferences(text, text, text, jsonb),
                       sessions.ocpi_get(text, text, text, boolean),
                       sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text)
    FROM PUBLIC;
REVOKE ALL ON sessions.ocpi_charging_preferences FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.ocpi_get(text, text, text, boolean),
                          sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text),
                          sessions.ocpi_validate(jsonb, text),
                          sessions.ocpi_validate(text, text),
                          sessions.ocpi_validate_charging_preferences(jsonb)
    TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.ocpi_put(text, text, text, jsonb, text),
                          sessions.ocpi_put(text, text, text, text, text),
                          sessions.ocpi_put_many(text, text, jsonb[], text),
                          sessions.ocpi_patch(text, text, text, jsonb),
                          sessions.ocpi_put_charging_preferences(text, text, text, jsonb)
    TO session_analytics_writer;
GRANT SELECT ON sessions.ocpi_charging_preferences TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.ocpi_charging_preferences TO session_analytics_writer;
