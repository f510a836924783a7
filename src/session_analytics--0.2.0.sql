-- session_analytics: the session store.
--
-- One table holds sessions of every kind (OCPI, PowerFlex exports, telemetry
-- streams, invoice-style sessions). Typed columns carry what analytics and
-- look-ups read; doc keeps the original document for exact round trips.
--
-- The install script runs with search_path = sessions, pg_temp. Every name
-- below is schema-qualified and functions pin their search_path, so objects
-- a user creates elsewhere cannot capture a call made by this script.

\echo Use "CREATE EXTENSION session_analytics" to load this file. \quit

-- Install-hijack guard. CREATE EXTENSION installs into an existing schema
-- "sessions" as it finds it, and objects a non-superuser placed there (or
-- may still place there) could capture calls made by this script or, later,
-- by functions run as a superuser (the expiry worker). Refuse unless the
-- schema is owned by a superuser, no non-superuser role (nor PUBLIC) may
-- create in it, and nothing in it belongs to a non-superuser. This block
-- runs before anything else and names only pg_catalog objects.
DO $guard$
DECLARE
    nsp pg_catalog.oid;
    reasons pg_catalog.text;
BEGIN
    SELECT n.oid INTO nsp FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'sessions';
    SELECT pg_catalog.string_agg(x.why, '; ') INTO reasons
      FROM (SELECT pg_catalog.format('it is owned by the non-superuser role %I', r.rolname) AS why
              FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) nsp AND NOT r.rolsuper
            UNION ALL
            SELECT pg_catalog.format('%s may create objects in it',
                       CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                            ELSE pg_catalog.quote_ident(r.rolname::pg_catalog.text) END)
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) nsp AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND (a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid OR NOT r.rolsuper)
            UNION ALL
            SELECT pg_catalog.format('it contains objects owned by the non-superuser role %I', r.rolname)
              FROM (SELECT c.relowner AS owner FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
                    UNION SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
                    UNION SELECT t.typowner FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
                    UNION SELECT o.oprowner FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) x;
    IF reasons IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to install session_analytics into the existing schema "sessions": %', reasons
            USING ERRCODE = '42501',
                  DETAIL = 'Objects a non-superuser controls in this schema could run as the role installing the extension or as the expiry worker.',
                  HINT = 'Drop the schema (after checking what is in it) and run CREATE EXTENSION again, or make a superuser its owner, revoke CREATE on it from every other role and drop the objects of other roles.';
    END IF;
END
$guard$;

-- Roles are cluster-wide and outlive the extension; create them only once.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'session_analytics_reader') THEN
        CREATE ROLE session_analytics_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'session_analytics_writer') THEN
        CREATE ROLE session_analytics_writer NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('session_analytics_writer', 'session_analytics_reader', 'MEMBER') THEN
        GRANT session_analytics_reader TO session_analytics_writer;
    END IF;
END
$roles$;

CREATE TABLE sessions.store (
    session_key  uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    kind         text        NOT NULL,
    namespace    text        NOT NULL,
    external_id  text,
    status       text        NOT NULL,
    started_at   timestamptz,
    ended_at     timestamptz,
    kwh          float8,
    user_ref     text,
    site         text,
    evse         text,
    connector    text,
    valid_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_updated timestamptz NOT NULL DEFAULT pg_catalog.now(),
    doc          jsonb       NOT NULL DEFAULT '{}',
    -- The namespace is in every unique key so the table can be distributed
    -- (Citus) or sharded by it.
    CONSTRAINT store_pkey PRIMARY KEY (session_key, namespace),
    CONSTRAINT store_external_key UNIQUE (namespace, kind, external_id),
    CONSTRAINT store_kind_check CHECK (kind IN ('ocpi', 'powerflex', 'telemetry', 'invoice')),
    CONSTRAINT store_namespace_check CHECK (namespace <> ''),
    CONSTRAINT store_kwh_check CHECK (kwh >= 0),
    CONSTRAINT store_span_check CHECK (ended_at >= started_at)
);

COMMENT ON TABLE sessions.store IS
  'Sessions of every kind: typed columns for analytics and look-ups, doc holds the original document';
COMMENT ON COLUMN sessions.store.session_key IS 'Database-allocated key (UUID)';
COMMENT ON COLUMN sessions.store.kind IS 'ocpi, powerflex, telemetry or invoice';
COMMENT ON COLUMN sessions.store.namespace IS
  'Who owns the session: OCPI party as CC-PID (e.g. NL-TNM), a PowerFlex site, a telemetry data source, an invoice session type';
COMMENT ON COLUMN sessions.store.external_id IS
  'The id the outside world uses (OCPI Session.id in upper case, PowerFlex session_id, invoice reference number)';
COMMENT ON COLUMN sessions.store.status IS 'Status as the source names it (OCPI SessionStatus, PowerFlex status, ...)';
COMMENT ON COLUMN sessions.store.kwh IS 'Energy delivered so far, kWh';
COMMENT ON COLUMN sessions.store.user_ref IS 'User reference (e-mail, contract id, token uid); personal data';
COMMENT ON COLUMN sessions.store.site IS 'Site or OCPI location_id';
COMMENT ON COLUMN sessions.store.valid_until IS 'After this instant the session is expired and ends';
COMMENT ON COLUMN sessions.store.doc IS 'The original document, returned unchanged by the GET-style functions';

-- Key look-ups are served by the two unique indexes; these serve scans.
CREATE INDEX store_kind_last_updated_idx ON sessions.store (kind, last_updated);
CREATE INDEX store_started_at_idx ON sessions.store (started_at);

-- pg_dump skips extension tables unless registered; the data is the user's.
SELECT pg_catalog.pg_extension_config_dump('sessions.store', '');

-- Which namespaces a role may see and change. A role sees the rows whose
-- namespace is mapped to it or to a role it is a member of; '*' maps all.
CREATE TABLE sessions.role_namespace (
    role_name  name NOT NULL,
    namespace  text NOT NULL,
    CONSTRAINT role_namespace_pkey PRIMARY KEY (role_name, namespace),
    CONSTRAINT role_namespace_namespace_check CHECK (namespace <> '')
);
COMMENT ON TABLE sessions.role_namespace IS
  'Row-level security map: role_name may see and change sessions of namespace (''*'' = every namespace)';
SELECT pg_catalog.pg_extension_config_dump('sessions.role_namespace', '');

/*
 * visible_namespaces
 *		The namespaces mapped to the current role or to a role whose
 *		privileges it has (pg_has_role USAGE: a member of a NOINHERIT role,
 *		or a NOINHERIT member, gets the mapping only after SET ROLE, just as
 *		with table privileges); '*' in the result means every namespace.
 *		Mappings naming a role that no longer exists are ignored.
 */
CREATE FUNCTION sessions.visible_namespaces()
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT r.namespace), '{}')
      FROM sessions.role_namespace r
      JOIN pg_catalog.pg_roles g ON g.rolname OPERATOR(pg_catalog.=) r.role_name
     WHERE pg_catalog.pg_has_role(g.oid, 'USAGE');
END;
COMMENT ON FUNCTION sessions.visible_namespaces() IS
  'Namespaces the current role may see through sessions.role_namespace (''*'' = all)';

ALTER TABLE sessions.store ENABLE ROW LEVEL SECURITY;
-- The sub-selects become InitPlans: the map is read once per statement,
-- not once per row, so RLS costs almost nothing on large scans.
CREATE POLICY store_by_namespace ON sessions.store
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));

-- Each role sees only the mappings that apply to it (the same rule as
-- visible_namespaces(), so that function reads exactly its own rows), never
-- who else is mapped to what. Only the owner writes the map: it has no
-- INSERT/UPDATE/DELETE grant and no policy for them.
ALTER TABLE sessions.role_namespace ENABLE ROW LEVEL SECURITY;
CREATE POLICY role_namespace_own ON sessions.role_namespace FOR SELECT
    USING (EXISTS (SELECT FROM pg_catalog.pg_roles g
                    WHERE g.rolname OPERATOR(pg_catalog.=) role_name
                      AND pg_catalog.pg_has_role(g.oid, 'USAGE')));

REVOKE ALL ON sessions.store, sessions.role_namespace FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.visible_namespaces() FROM PUBLIC;
GRANT USAGE ON SCHEMA sessions TO session_analytics_reader;
GRANT SELECT ON sessions.store, sessions.role_namespace TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.visible_namespaces() TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.store TO session_analytics_writer;
-- session_analytics: OCPI 2.2.1 / 2.3.0 Sessions module.
--
-- Sessions live in sessions.store (kind 'ocpi'): namespace = upper(country_code)
-- || '-' || upper(party_id), external_id = upper(id), doc = the Session exactly
-- as received. Validation (ocpi_validate.c) and the write paths (ocpi_store.c) are in C.

-- Validation -------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_validate(session jsonb, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate(jsonb, text) IS
  'True when session is a valid OCPI Session of version (2.2.1 or 2.3.0); otherwise raises an error naming the field';

CREATE FUNCTION sessions.ocpi_validate_charging_preferences(preferences jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ocpi_validate_charging_preferences'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate_charging_preferences(jsonb) IS
  'True when preferences is a well-formed OCPI ChargingPreferences object; otherwise raises an error naming the field';

-- Write paths ------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session jsonb, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ocpi_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put(text, text, text, jsonb, text) IS
  'OCPI PUT: validate the whole Session and create or replace it (charging_periods replaced); returns the stored object';

CREATE FUNCTION sessions.ocpi_patch(country_code text, party_id text, session_id text, patch jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ocpi_patch'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_patch(text, text, text, jsonb) IS
  'OCPI PATCH: last_updated required; charging_periods appended, other members replaced whole; the result must be a valid Session';

-- Read paths -------------------------------------------------------------------

CREATE FUNCTION sessions.ocpi_get(country_code text, party_id text, session_id text)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT s.doc
      FROM sessions.store s
     WHERE s.namespace OPERATOR(pg_catalog.=)
               (pg_catalog.upper(ocpi_get.country_code COLLATE "C") OPERATOR(pg_catalog.||) '-'
                OPERATOR(pg_catalog.||) pg_catalog.upper(ocpi_get.party_id COLLATE "C"))
       AND s.kind OPERATOR(pg_catalog.=) 'ocpi'
       AND s.external_id OPERATOR(pg_catalog.=) pg_catalog.upper(ocpi_get.session_id COLLATE "C");
END;
COMMENT ON FUNCTION sessions.ocpi_get(text, text, text) IS
  'OCPI GET: the Session as stored, NULL when unknown (keys compare case-insensitively)';

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
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));

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

    INSERT INTO sessions.ocpi_charging_preferences AS p (session_key, namespace, preferences)
    VALUES (s.session_key, s.namespace, ocpi_put_charging_preferences.preferences)
    ON CONFLICT ON CONSTRAINT ocpi_charging_preferences_pkey
    DO UPDATE SET preferences = excluded.preferences, updated_at = pg_catalog.now();
    RETURN 'ACCEPTED';
END;
$$;
COMMENT ON FUNCTION sessions.ocpi_put_charging_preferences(text, text, text, jsonb) IS
  'OCPI PUT charging_preferences: validate, store with the session when ACCEPTED, and return the ChargingPreferencesResponse';

-- Privileges ---------------------------------------------------------------------

REVOKE ALL ON FUNCTION sessions.ocpi_validate(jsonb, text),
                       sessions.ocpi_validate_charging_preferences(jsonb),
                       sessions.ocpi_put(text, text, text, jsonb, text),
                       sessions.ocpi_patch(text, text, text, jsonb),
                       sessions.ocpi_put_charging_preferences(text, text, text, jsonb),
                       sessions.ocpi_get(text, text, text),
                       sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text)
    FROM PUBLIC;
REVOKE ALL ON sessions.ocpi_charging_preferences FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.ocpi_get(text, text, text),
                          sessions.ocpi_list(timestamptz, timestamptz, int, int, text, text),
                          sessions.ocpi_validate(jsonb, text),
                          sessions.ocpi_validate_charging_preferences(jsonb)
    TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.ocpi_put(text, text, text, jsonb, text),
                          sessions.ocpi_patch(text, text, text, jsonb),
                          sessions.ocpi_put_charging_preferences(text, text, text, jsonb)
    TO session_analytics_writer;
GRANT SELECT ON sessions.ocpi_charging_preferences TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.ocpi_charging_preferences TO session_analytics_writer;
-- session_analytics: charging-session analytics.
--
-- Scalar functions (classification, average power and current, rating,
-- duration text, named date ranges), the flat summary type
-- sessions.session_stats with its aggregates and accessors, and thin report
-- functions over sessions.store. Defaults of thresholds, volts and amperes
-- come from the session_analytics.* settings.

-- ---- scalar functions -------------------------------------------------------

CREATE FUNCTION sessions.classify(
    kwh float8,
    micro_threshold float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.micro_threshold', true), '1.0')::pg_catalog.float8)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_classify'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.classify(float8, float8) IS
  'empty (kwh = 0), micro (0 < kwh < micro_threshold) or normal (kwh >= micro_threshold)';

CREATE FUNCTION sessions.average_power_w(kwh float8, started_at timestamptz, ended_at timestamptz)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_average_power_w'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.average_power_w(float8, timestamptz, timestamptz) IS
  'Average power in watts: kWh / hours * 1000; NULL for an open session or a duration <= 0';

CREATE FUNCTION sessions.average_current_a(
    kwh float8, started_at timestamptz, ended_at timestamptz,
    volts float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.volts', true), '208')::pg_catalog.float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_average_current_a'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.average_current_a(float8, timestamptz, timestamptz, float8) IS
  'Average current in amperes at volts (average power / volts); NULL for an open session or a duration <= 0';

CREATE FUNCTION sessions.charge_rating(
    amps float8,
    good_a float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.good_amps', true), '16')::pg_catalog.float8,
    fair_a float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.fair_amps', true), '8')::pg_catalog.float8)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_charge_rating'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.charge_rating(float8, float8, float8) IS
  'green (amps >= good_a), orange (amps >= fair_a) or red';

CREATE FUNCTION sessions.format_duration(interval)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_format_duration'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.format_duration(interval) IS
  'Duration with one decimal in the largest fitting unit: 46.0s, 12.5m, 8.5h, 2.3d';

CREATE FUNCTION sessions.date_range(name text, tz text DEFAULT 'UTC', at timestamptz DEFAULT pg_catalog.now())
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'sa_date_range'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.date_range(text, text, timestamptz) IS
  'Named range local to tz: today, yesterday, last_week (7 days before today), last_month (30 days before today), this_month';

-- ---- the summary type ---------------------------------------------------------

CREATE TYPE sessions.session_stats;

CREATE FUNCTION sessions.session_stats_in(cstring) RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_in(cstring) IS 'Text input of session_stats (validated)';
CREATE FUNCTION sessions.session_stats_out(sessions.session_stats) RETURNS cstring
AS 'MODULE_PATHNAME', 'session_stats_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_out(sessions.session_stats) IS 'Text output of session_stats';
CREATE FUNCTION sessions.session_stats_recv(internal) RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_recv(internal) IS 'Binary input of session_stats (validated)';
CREATE FUNCTION sessions.session_stats_send(sessions.session_stats) RETURNS bytea
AS 'MODULE_PATHNAME', 'session_stats_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_send(sessions.session_stats) IS 'Binary output of session_stats';

CREATE TYPE sessions.session_stats (
    INPUT = sessions.session_stats_in,
    OUTPUT = sessions.session_stats_out,
    RECEIVE = sessions.session_stats_recv,
    SEND = sessions.session_stats_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE sessions.session_stats IS
  'Charging sessions summarised per local day (counts, classes, kWh, duration, ratings) with the zone and parameters used';

-- ---- aggregates ------------------------------------------------------------------

CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_trans' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8) IS
  'Transition function of session_stats_agg (aggregate context only)';
COMMENT ON FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text) IS
  'Transition function of session_stats_agg (aggregate context only)';
COMMENT ON FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8) IS
  'Transition function of session_stats_agg (aggregate context only)';
COMMENT ON FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8) IS
  'Transition function of session_stats_agg (aggregate context only)';

CREATE FUNCTION sessions.session_stats_final(sessions.session_stats)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_final(sessions.session_stats) IS
  'Final function of session_stats_agg and rollup: drops the spare day slots of the state';

CREATE FUNCTION sessions.session_stats_combine(sessions.session_stats, sessions.session_stats)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'session_stats_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_combine(sessions.session_stats, sessions.session_stats) IS
  'Combine function of session_stats_agg, transition of rollup: merges two summaries of the same zone and parameters';

CREATE AGGREGATE sessions.session_stats_agg(started_at timestamptz, ended_at timestamptz, kwh float8) (
    SFUNC = sessions.session_stats_trans, STYPE = sessions.session_stats,
    FINALFUNC = sessions.session_stats_final, COMBINEFUNC = sessions.session_stats_combine,
    PARALLEL = SAFE);
CREATE AGGREGATE sessions.session_stats_agg(started_at timestamptz, ended_at timestamptz, kwh float8, tz text) (
    SFUNC = sessions.session_stats_trans, STYPE = sessions.session_stats,
    FINALFUNC = sessions.session_stats_final, COMBINEFUNC = sessions.session_stats_combine,
    PARALLEL = SAFE);
CREATE AGGREGATE sessions.session_stats_agg(started_at timestamptz, ended_at timestamptz, kwh float8, tz text,
                                            micro_threshold float8) (
    SFUNC = sessions.session_stats_trans, STYPE = sessions.session_stats,
    FINALFUNC = sessions.session_stats_final, COMBINEFUNC = sessions.session_stats_combine,
    PARALLEL = SAFE);
CREATE AGGREGATE sessions.session_stats_agg(started_at timestamptz, ended_at timestamptz, kwh float8, tz text,
                                            micro_threshold float8, volts float8) (
    SFUNC = sessions.session_stats_trans, STYPE = sessions.session_stats,
    FINALFUNC = sessions.session_stats_final, COMBINEFUNC = sessions.session_stats_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE sessions.session_stats_agg(timestamptz, timestamptz, float8) IS
  'Sessions summarised per UTC day (threshold and volts from the session_analytics settings)';
COMMENT ON AGGREGATE sessions.session_stats_agg(timestamptz, timestamptz, float8, text) IS
  'Sessions summarised per local day in tz';
COMMENT ON AGGREGATE sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8) IS
  'Sessions summarised per local day in tz with a microsession threshold (kWh)';
COMMENT ON AGGREGATE sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8, float8) IS
  'Sessions summarised per local day in tz with a microsession threshold (kWh) and the volts for ratings';

CREATE AGGREGATE sessions.rollup(sessions.session_stats) (
    SFUNC = sessions.session_stats_combine, STYPE = sessions.session_stats,
    FINALFUNC = sessions.session_stats_final, COMBINEFUNC = sessions.session_stats_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE sessions.rollup(sessions.session_stats) IS
  'Merges session_stats summaries of the same zone and parameters (e.g. stored per site or month)';

-- ---- accessors -------------------------------------------------------------------

CREATE FUNCTION sessions.days(sessions.session_stats)
RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint)
AS 'MODULE_PATHNAME', 'session_stats_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 366;
COMMENT ON FUNCTION sessions.days(sessions.session_stats) IS
  'One row per local day, ascending; percentages of completed sessions';

CREATE FUNCTION sessions.totals(sessions.session_stats,
    OUT sessions bigint, OUT active bigint, OUT completed bigint, OUT empty bigint, OUT micro bigint,
    OUT normal bigint, OUT empty_pct float8, OUT micro_pct float8, OUT kwh float8,
    OUT avg_duration interval, OUT green bigint, OUT orange bigint, OUT red bigint,
    OUT combined bigint, OUT combined_pct float8)
RETURNS record
AS 'MODULE_PATHNAME', 'session_stats_totals'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.totals(sessions.session_stats) IS
  'The whole range in one row, plus combined = empty + micro and its percentage of completed sessions';

-- ---- reports over the store --------------------------------------------------------

CREATE FUNCTION sessions.daily_report(
    range tstzrange,
    tz text DEFAULT 'UTC',
    micro_threshold float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.micro_threshold', true), '1.0')::pg_catalog.float8,
    site text DEFAULT NULL,
    include_active boolean DEFAULT false)
RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT d.*
      FROM sessions.days((
            SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, $2, $3)
              FROM sessions.store s
             WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND s.started_at IS NOT NULL
               AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
                    AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
                    AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
               AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) $4)
               AND ($5 OR s.ended_at IS NOT NULL))) d
$$;
COMMENT ON FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean) IS
  'Charging sessions (ocpi, powerflex) of the store started in range, per local day: empty/micro/normal, kWh, durations, ratings';

CREATE FUNCTION sessions.summary_report(
    range tstzrange,
    tz text DEFAULT 'UTC',
    micro_threshold float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.micro_threshold', true), '1.0')::pg_catalog.float8,
    site text DEFAULT NULL,
    include_active boolean DEFAULT false)
RETURNS TABLE(sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint, combined bigint, combined_pct float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT COALESCE(t.sessions, 0), COALESCE(t.active, 0), COALESCE(t.completed, 0),
           COALESCE(t.empty, 0), COALESCE(t.micro, 0), COALESCE(t.normal, 0),
           t.empty_pct, t.micro_pct, COALESCE(t.kwh, 0), t.avg_duration,
           COALESCE(t.green, 0), COALESCE(t.orange, 0), COALESCE(t.red, 0),
           COALESCE(t.combined, 0), t.combined_pct
      FROM (SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, $2, $3) AS st
              FROM sessions.store s
             WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND s.started_at IS NOT NULL
               AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
                    AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
                    AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
               AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) $4)
               AND ($5 OR s.ended_at IS NOT NULL)) a
      LEFT JOIN LATERAL sessions.totals(a.st) t ON true
$$;
COMMENT ON FUNCTION sessions.summary_report(tstzrange, text, float8, text, boolean) IS
  'Charging sessions (ocpi, powerflex) of the store started in range in one row: SESHIS combined summary';

CREATE FUNCTION sessions.user_report(
    user_ref text DEFAULT NULL,
    range tstzrange DEFAULT NULL,
    tz text DEFAULT 'UTC',
    volts float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.volts', true), '208')::pg_catalog.float8)
RETURNS TABLE(user_ref text, user_sessions bigint, session_no bigint, session_key uuid, namespace text,
              external_id text, site text, started_local timestamp, ended_local timestamp,
              duration text, duration_interval interval, kwh float8, average_w float8,
              average_a float8, rating text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT s.user_ref,
           pg_catalog.count(*) OVER (PARTITION BY s.user_ref),
           pg_catalog.row_number() OVER (PARTITION BY s.user_ref ORDER BY s.started_at DESC, s.session_key),
           s.session_key, s.namespace, s.external_id, s.site,
           pg_catalog.timezone($3, s.started_at),
           pg_catalog.timezone($3, s.ended_at),
           sessions.format_duration(s.ended_at OPERATOR(pg_catalog.-) s.started_at),
           s.ended_at OPERATOR(pg_catalog.-) s.started_at,
           s.kwh,
           sessions.average_power_w(s.kwh, s.started_at, s.ended_at),
           sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4),
           sessions.charge_rating(sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4))
      FROM sessions.store s
     WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
       AND s.started_at IS NOT NULL
       AND ($1 IS NULL OR s.user_ref OPERATOR(pg_catalog.=) $1)
       AND ($2 IS NULL OR ($2 OPERATOR(pg_catalog.@>) s.started_at
            AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($2), '-infinity'::pg_catalog.timestamptz)
            AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($2), 'infinity'::pg_catalog.timestamptz)))
     ORDER BY s.user_ref NULLS FIRST, s.started_at DESC, s.session_key
$$;
COMMENT ON FUNCTION sessions.user_report(text, tstzrange, text, float8) IS
  'Charging sessions (ocpi, powerflex) per user (NULL user first), newest first: local start/end, duration, kWh, average W and A, rating';

-- ---- privileges ---------------------------------------------------------------------
-- Functions are executable by PUBLIC unless revoked: revoked from all. The
-- aggregates' support functions are for the server only (it checks the
-- aggregate owner's EXECUTE on them, not the caller's), and so are
-- session_stats_recv/send (binary I/O is not ACL-checked): nobody but the
-- owner executes them. The user-facing functions go to the reader role (the
-- writer role is a member of it), with session_stats_in/out: casts to and
-- from text are not ACL-checked either, except when the planner folds a
-- constant cast, which then calls them as functions and checks EXECUTE.

REVOKE ALL ON TYPE sessions.session_stats FROM PUBLIC;
-- Every function of the schema so far (this file's, and those of 00 and 10,
-- revoked there already): one statement, so a function added above cannot
-- be left to PUBLIC, and the list of what is granted below stays the only
-- list (test/privileges.approved checks the result).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sessions FROM PUBLIC;

GRANT USAGE ON TYPE sessions.session_stats TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION
    sessions.session_stats_in(cstring),
    sessions.session_stats_out(sessions.session_stats),
    sessions.classify(float8, float8),
    sessions.average_power_w(float8, timestamptz, timestamptz),
    sessions.average_current_a(float8, timestamptz, timestamptz, float8),
    sessions.charge_rating(float8, float8, float8),
    sessions.format_duration(interval),
    sessions.date_range(text, text, timestamptz),
    sessions.session_stats_agg(timestamptz, timestamptz, float8),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8, float8),
    sessions.rollup(sessions.session_stats),
    sessions.days(sessions.session_stats),
    sessions.totals(sessions.session_stats),
    sessions.daily_report(tstzrange, text, float8, text, boolean),
    sessions.summary_report(tstzrange, text, float8, text, boolean),
    sessions.user_report(text, tstzrange, text, float8)
  TO session_analytics_reader;
-- session_analytics: PowerFlex import, report helpers and the daily chart.
--
-- A PowerFlex sessions export (the API's {"rows": [...], "total_count",
-- "page", "limit"} response, or a bare list of rows) is loaded into
-- sessions.store as kind 'powerflex': namespace = the site named by the call,
-- else the row's "site", else 'powerflex'; external_id = session_id; times
-- from epoch milliseconds; kwh = session_kwh; user_ref = user; the whole row
-- (unknown fields included) in doc. Rows that cannot be stored are skipped,
-- reported by NOTICE and kept in sessions.import_rejects.

CREATE TABLE sessions.import_rejects (
    rejected_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source       text        NOT NULL,
    position     bigint      NOT NULL,
    namespace    text        NOT NULL,
    session_id   text,
    reason       text        NOT NULL,
    row_doc      jsonb
);
COMMENT ON TABLE sessions.import_rejects IS
  'Rows an import skipped: when (the importing transaction''s start), source, 1-based position in the export, namespace, session id, reason and the row itself; row-level security by namespace';
COMMENT ON COLUMN sessions.import_rejects.namespace IS
  'The namespace the row was meant for (the site argument, else the row''s site, else powerflex); limits who sees the reject';
COMMENT ON COLUMN sessions.import_rejects.row_doc IS 'The rejected row as given; may hold personal data (user e-mail)';
CREATE INDEX import_rejects_rejected_at_idx ON sessions.import_rejects (rejected_at);
SELECT pg_catalog.pg_extension_config_dump('sessions.import_rejects', '');

-- Rejected rows hold other tenants' personal data: the same policy as the
-- store (the sub-selects become InitPlans, read once per statement).
-- Writers may read, log and delete rejects of their own namespaces only.
ALTER TABLE sessions.import_rejects ENABLE ROW LEVEL SECURITY;
CREATE POLICY import_rejects_by_namespace ON sessions.import_rejects
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));

/*
 * powerflex_row_problem
 *		Why a PowerFlex row cannot be stored, or NULL when it can: the checks
 *		import_powerflex applies to each row before writing anything. Every
 *		field is checked for what the casts and the insert later need, so a
 *		row that passes cannot fail the import:
 *		- session_id: a string or number of 1..200 characters (it is in a
 *		  unique index, whose entries are limited to about 2.7 kB);
 *		- site, user, status: strings when present; site at most 1000 bytes
 *		  (it becomes the namespace, in two unique indexes: with a 200
 *		  character session_id an entry stays under the 2.7 kB limit);
 *		- session_kwh: a number or numeric string from 0 to 1e9; a non-zero
 *		  value below 1e-9 kWh (1 µWh) is refused: no meter reports it, and
 *		  below about 1e-308 float8 cannot hold it at all;
 *		- session_start_time (required), session_end_time: epoch ms from 0 to
 *		  year 9999, as numbers or digit strings;
 *		- updated_at: ISO 8601 as the export writes it (YYYY-MM-DD, optional
 *		  [T ]hh:mm[:ss[.ffffff]], optional Z or +hh[:mm]), a real calendar
 *		  date (the cast, in a block), from 1970 to before 10000 (UTC); no
 *		  special words (now, infinity, epoch).
 *		The export's own time shape is checked with LIKE: a regex per row
 *		would cost the import several percent.
 */
CREATE FUNCTION sessions.powerflex_row_problem(r jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    k        pg_catalog.jsonb;
    v        pg_catalog.jsonb;
    f        pg_catalog.text;
    kn       pg_catalog.numeric;
    ms       pg_catalog.numeric;
    ms_start pg_catalog.numeric;
    ms_end   pg_catalog.numeric;
    u        pg_catalog.text;
    ts       pg_catalog.timestamptz;
BEGIN
    IF pg_catalog.jsonb_typeof(r) IS DISTINCT FROM 'object' THEN
        RETURN 'row is not a JSON object';
    END IF;
    IF pg_catalog.jsonb_typeof(r -> 'session_id') NOT IN ('string', 'number')
       OR r -> 'session_id' IS NULL OR pg_catalog.btrim(r ->> 'session_id') = '' THEN
        RETURN 'session_id is missing';
    END IF;
    IF pg_catalog.length(r ->> 'session_id') > 200 THEN
        RETURN 'session_id is longer than 200 characters';
    END IF;
    k := r -> 'session_kwh';
    IF k IS NULL OR pg_catalog.jsonb_typeof(k) = 'null' THEN
        RETURN 'session_kwh is missing';
    ELSIF NOT (pg_catalog.jsonb_typeof(k) = 'number'
               OR (pg_catalog.jsonb_typeof(k) = 'string'
                   AND (k #>> '{}') ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$')) THEN
        RETURN pg_catalog.format('session_kwh is not a number: %s', pg_catalog.left(k::pg_catalog.text, 40));
    END IF;
    kn := (k #>> '{}')::pg_catalog.numeric;
    IF kn < 0 THEN
        RETURN pg_catalog.format('session_kwh is negative: %s', pg_catalog.left(k #>> '{}', 40));
    ELSIF kn > 1e9 THEN
        RETURN pg_catalog.format('session_kwh is out of range: %s', pg_catalog.left(k #>> '{}', 40));
    ELSIF kn > 0 AND kn < 1e-9 THEN
        RETURN pg_catalog.format('session_kwh is too small (non-zero below 1e-9): %s', pg_catalog.left(k #>> '{}', 40));
    END IF;
    IF r ? 'user' AND pg_catalog.jsonb_typeof(r -> 'user') NOT IN ('string', 'null') THEN
        RETURN 'user is not a string';
    END IF;
    IF r ? 'site' AND pg_catalog.jsonb_typeof(r -> 'site') NOT IN ('string', 'null') THEN
        RETURN 'site is not a string';
    END IF;
    IF pg_catalog.octet_length(r ->> 'site') > 1000 THEN
        RETURN 'site is longer than 1000 bytes';
    END IF;
    IF r ? 'status' AND pg_catalog.jsonb_typeof(r -> 'status') NOT IN ('string', 'null') THEN
        RETURN 'status is not a string';
    END IF;
    -- Times: epoch milliseconds as numbers (the usual case, checked
    -- inline) or numeric strings; updated_at an ISO 8601 string.
    FOREACH f IN ARRAY ARRAY['session_start_time', 'session_end_time'] LOOP
        v := r -> f;
        IF v IS NULL OR pg_catalog.jsonb_typeof(v) = 'null' THEN
            IF f = 'session_start_time' THEN
                RETURN 'session_start_time is missing';
            END IF;
            ms := NULL;
        ELSIF pg_catalog.jsonb_typeof(v) = 'number' THEN
            ms := v::pg_catalog.numeric;
        ELSIF pg_catalog.jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\s*[0-9]{1,15}(\.[0-9]*)?\s*$' THEN
            ms := (v #>> '{}')::pg_catalog.numeric;
        ELSE
            RETURN pg_catalog.format('%s is not a valid time: %s', f, pg_catalog.left(v::pg_catalog.text, 40));
        END IF;
        IF ms < 0 OR ms > 253402300799999 THEN
            RETURN pg_catalog.format('%s is not a valid time: %s', f, pg_catalog.left(v::pg_catalog.text, 40));
        END IF;
        IF f = 'session_start_time' THEN
            ms_start := ms;
        ELSE
            ms_end := ms;
        END IF;
    END LOOP;
    v := r -> 'updated_at';
    IF pg_catalog.jsonb_typeof(v) = 'string' THEN
        u := v #>> '{}';
        -- The shape first: the export's own (a cheap LIKE), else any ISO
        -- 8601 form the export could write (a regex; no special words).
        -- Then the cast checks the calendar, and the range is checked.
        IF NOT ((u LIKE '____-__-__T__:__:__.___Z' AND pg_catalog.substr(u, 12, 2) < '24'
                 AND pg_catalog.substr(u, 18, 2) < '60')
                OR u ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$') THEN
            RETURN pg_catalog.format('updated_at is not a valid time: %s', pg_catalog.left(v::pg_catalog.text, 40));
        END IF;
        BEGIN
            ts := u::pg_catalog.timestamptz;
        EXCEPTION WHEN data_exception THEN
            ts := NULL;
        END;
        IF ts IS NULL OR NOT (ts >= '1970-01-01 00:00+00'::pg_catalog.timestamptz
                              AND ts < '10000-01-01 00:00+00'::pg_catalog.timestamptz) THEN
            RETURN pg_catalog.format('updated_at is not a valid time: %s', pg_catalog.left(v::pg_catalog.text, 40));
        END IF;
    ELSIF v IS NOT NULL AND pg_catalog.jsonb_typeof(v) <> 'null' THEN
        RETURN 'updated_at is not a timestamp';
    END IF;
    IF ms_end < ms_start THEN
        RETURN 'session_end_time is before session_start_time';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION sessions.powerflex_row_problem(jsonb) IS
  'Why a PowerFlex export row cannot be imported (no or too long session_id or site, bad, negative, huge or tiny kWh, bad times, end before start...), NULL when it can';

/*
 * import_powerflex
 *		Loads a PowerFlex export, both shapes: {"rows": [...], ...} or [...].
 *		Set-based: one statement checks the rows, logs the skipped ones and
 *		upserts the rest keyed by (namespace, 'powerflex', session_id), so a
 *		re-import updates. A later duplicate of a session_id in the same
 *		document wins; the earlier one is skipped and reported. Runs as the
 *		caller: the store's and the rejects' row-level security apply, so a
 *		writer stores and logs rows of its own namespaces only.
 */
CREATE FUNCTION sessions.import_powerflex(doc jsonb, site text DEFAULT NULL)
RETURNS TABLE(imported integer, updated integer, skipped integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    v_rows  pg_catalog.jsonb;
    v_base  pg_catalog.int8 := 0;
    v_rejects pg_catalog.jsonb;
    rej     record;
    n_skip  pg_catalog.int4 := 0;
    n_new   pg_catalog.int4 := 0;
    n_upd   pg_catalog.int4 := 0;
BEGIN
    IF doc IS NULL THEN
        RAISE EXCEPTION 'import_powerflex: doc is NULL' USING ERRCODE = '22004';
    END IF;
    IF site IS NOT NULL AND pg_catalog.btrim(site) = '' THEN
        RAISE EXCEPTION 'import_powerflex: site must not be empty'
              USING ERRCODE = '22023', HINT = 'Pass NULL to take the site from each row.';
    END IF;
    IF pg_catalog.octet_length(site) > 1000 THEN
        RAISE EXCEPTION 'import_powerflex: site is longer than 1000 bytes'
              USING ERRCODE = '22023', DETAIL = pg_catalog.format('It has %s bytes.', pg_catalog.octet_length(site)),
                    HINT = 'Site names (namespaces) are limited to 1000 bytes (UTF-8).';
    END IF;
    IF pg_catalog.jsonb_typeof(doc) = 'array' THEN
        v_rows := doc;
    ELSIF pg_catalog.jsonb_typeof(doc) = 'object' AND pg_catalog.jsonb_typeof(doc -> 'rows') = 'array' THEN
        v_rows := doc -> 'rows';
        -- Rows are numbered in the whole export: from "offset" + 1 when the
        -- document has it (a streaming client's batches), else from the
        -- API page's first row. Anything odd there numbers from 1.
        IF pg_catalog.jsonb_typeof(doc -> 'offset') = 'number' AND (doc ->> 'offset') ~ '^[0-9]{1,12}$' THEN
            v_base := (doc ->> 'offset')::pg_catalog.int8;
        ELSIF pg_catalog.jsonb_typeof(doc -> 'page') = 'number' AND (doc ->> 'page') ~ '^[1-9][0-9]{0,8}$'
              AND pg_catalog.jsonb_typeof(doc -> 'limit') = 'number' AND (doc ->> 'limit') ~ '^[0-9]{1,9}$' THEN
            v_base := ((doc ->> 'page')::pg_catalog.int8 - 1) * (doc ->> 'limit')::pg_catalog.int8;
        END IF;
    ELSE
        RAISE EXCEPTION 'import_powerflex: doc is not a PowerFlex export'
              USING ERRCODE = '22023',
                    DETAIL = pg_catalog.format('Got a JSON %s%s.', pg_catalog.jsonb_typeof(doc),
                                    CASE WHEN pg_catalog.jsonb_typeof(doc) = 'object' THEN ' without a "rows" array' ELSE '' END),
                    HINT = 'Pass the API response {"rows": [...], "total_count": ..., "page": ..., "limit": ...} or a JSON array of rows.';
    END IF;

    -- One statement: rows checked, (of valid rows sharing a session_id the
    -- last one wins, found in one pass with a window), skipped ones logged,
    -- the rest upserted. The namespace: the site argument, else the row's
    -- site when it is a usable one (a string of at most 1000 bytes, not
    -- blank), else 'powerflex'; a rejected row is logged under it too.
    WITH c AS MATERIALIZED (
        SELECT v.position, v.r, v.ns,
               CASE WHEN v.problem IS NULL
                         AND pg_catalog.row_number() OVER (PARTITION BY v.problem IS NULL, v.ns, v.r ->> 'session_id'
                                                           ORDER BY v.position DESC) > 1
                    THEN 'session_id repeated later in the document (the later row wins)'
                    ELSE v.problem END AS problem
          FROM (SELECT v_base + e.ord AS position, e.r,
                       COALESCE(import_powerflex.site,
                                CASE WHEN pg_catalog.jsonb_typeof(e.r) = 'object'
                                          AND pg_catalog.jsonb_typeof(e.r -> 'site') = 'string'
                                          AND pg_catalog.octet_length(e.r ->> 'site') <= 1000
                                     THEN NULLIF(pg_catalog.btrim(e.r ->> 'site'), '') END,
                                'powerflex') AS ns,
                       sessions.powerflex_row_problem(e.r) AS problem
                  FROM pg_catalog.jsonb_array_elements(v_rows) WITH ORDINALITY AS e(r, ord)) v
    ), logged AS (
        INSERT INTO sessions.import_rejects (source, position, namespace, session_id, reason, row_doc)
        SELECT 'powerflex', c.position, c.ns,
               CASE WHEN pg_catalog.jsonb_typeof(c.r) = 'object' THEN pg_catalog.left(c.r ->> 'session_id', 200) END,
               c.problem, c.r
          FROM c
         WHERE c.problem IS NOT NULL
        RETURNING import_rejects.position, import_rejects.session_id, import_rejects.reason
    ), up AS (
        INSERT INTO sessions.store AS s
               (kind, namespace, external_id, status, started_at, ended_at, kwh,
                user_ref, site, last_updated, doc)
        SELECT 'powerflex', c.ns, c.r ->> 'session_id',
               COALESCE(NULLIF(pg_catalog.btrim(c.r ->> 'status'), ''),
                        CASE WHEN pg_catalog.jsonb_typeof(c.r -> 'session_end_time') IS DISTINCT FROM 'number'
                                  AND pg_catalog.jsonb_typeof(c.r -> 'session_end_time') IS DISTINCT FROM 'string'
                             THEN 'ACTIVE' ELSE 'FINISHED' END),
               -- checked above: numbers or numeric strings of epoch ms in range
               pg_catalog.to_timestamp(((c.r ->> 'session_start_time')::pg_catalog.numeric / 1000)::pg_catalog.float8),
               pg_catalog.to_timestamp(((c.r ->> 'session_end_time')::pg_catalog.numeric / 1000)::pg_catalog.float8),
               (c.r ->> 'session_kwh')::pg_catalog.float8,
               c.r ->> 'user',
               COALESCE(import_powerflex.site, c.r ->> 'site'),
               COALESCE((c.r ->> 'updated_at')::pg_catalog.timestamptz, pg_catalog.now()),
               c.r
          FROM c
         WHERE c.problem IS NULL
         ORDER BY c.position
        ON CONFLICT (namespace, kind, external_id) DO UPDATE
           SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
               ended_at = EXCLUDED.ended_at, kwh = EXCLUDED.kwh,
               user_ref = EXCLUDED.user_ref, site = EXCLUDED.site,
               last_updated = EXCLUDED.last_updated, doc = EXCLUDED.doc
        RETURNING (s.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid) AS inserted
    )
    SELECT (SELECT pg_catalog.count(*) FILTER (WHERE up.inserted) FROM up),
           (SELECT pg_catalog.count(*) FILTER (WHERE NOT up.inserted) FROM up),
           (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('position', l.position, 'session_id', l.session_id,
                                                         'reason', l.reason) ORDER BY l.position), '[]')
              FROM logged l)
      INTO n_new, n_upd, v_rejects;

    n_skip := pg_catalog.jsonb_array_length(v_rejects);
    FOR rej IN SELECT * FROM pg_catalog.jsonb_to_recordset(v_rejects) AS x(position pg_catalog.int8, session_id pg_catalog.text, reason pg_catalog.text) LOOP
        IF rej.session_id IS NOT NULL THEN
            RAISE NOTICE 'powerflex row % skipped: %', rej.position, rej.reason
                  USING DETAIL = pg_catalog.format('session_id: %s', rej.session_id);
        ELSE
            RAISE NOTICE 'powerflex row % skipped: %', rej.position, rej.reason;
        END IF;
    END LOOP;
    RETURN QUERY SELECT n_new, n_upd, n_skip;
END
$$;
COMMENT ON FUNCTION sessions.import_powerflex(jsonb, text) IS
  'Imports a PowerFlex sessions export ({"rows": [...]} or [...]) into sessions.store, idempotent on session_id; returns imported, updated and skipped counts (reasons by NOTICE and in sessions.import_rejects, rows numbered from "offset" or the page)';

-- Writers read, log and delete their own namespaces' rejects (RLS above);
-- nobody updates them. import_powerflex runs as the caller and calls
-- powerflex_row_problem, so writers keep EXECUTE on that pure function (no
-- table access, no side effects); readers and PUBLIC do not.
REVOKE ALL ON sessions.import_rejects FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON sessions.import_rejects TO session_analytics_writer;
REVOKE ALL ON FUNCTION sessions.powerflex_row_problem(jsonb), sessions.import_powerflex(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.powerflex_row_problem(jsonb) TO session_analytics_writer;
GRANT EXECUTE ON FUNCTION sessions.import_powerflex(jsonb, text) TO session_analytics_writer;

/*
 * user_pseudonym
 *		A stable stand-in for a user reference, for reports that must not
 *		show personal data: the same user always gets the same pseudonym.
 */
CREATE FUNCTION sessions.user_pseudonym(user_ref text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'user-' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.md5(user_ref), 10);
COMMENT ON FUNCTION sessions.user_pseudonym(text) IS
  'Stable pseudonym for a user reference (user- and 10 hex digits of its MD5); not a secret: whoever knows an address can recognise its pseudonym';

/*
 * anonymize_doc
 *		A session document safe to print: the "user" member replaced by the
 *		user's pseudonym, and anything else that looks like an e-mail address
 *		replaced by "(redacted)".
 */
CREATE FUNCTION sessions.anonymize_doc(doc jsonb, user_ref text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.regexp_replace(
           (CASE WHEN pg_catalog.jsonb_typeof(doc) OPERATOR(pg_catalog.=) 'object'
                      AND doc OPERATOR(pg_catalog.?) 'user'
                 THEN doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('user', sessions.user_pseudonym(user_ref))
                 ELSE doc END)::text,
           '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+', '(redacted)', 'g')::jsonb;
COMMENT ON FUNCTION sessions.anonymize_doc(jsonb, text) IS
  'The document with its "user" member replaced by sessions.user_pseudonym(user_ref) and every other e-mail-like text redacted';

REVOKE ALL ON FUNCTION sessions.user_pseudonym(text), sessions.anonymize_doc(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.user_pseudonym(text) TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.anonymize_doc(jsonb, text) TO session_analytics_reader;

/*
 * daily_chart_svg
 *		A line chart of the daily empty and micro percentages of a summary
 *		(read through sessions.days) as a standalone SVG document.
 */
CREATE FUNCTION sessions.daily_chart_svg(stats sessions.session_stats, title text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_daily_chart_svg'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) IS
  'SVG line chart (markers, dated x axis, percentage y axis, grid, legend, title) of the daily empty and micro percentages of a session_stats summary';
REVOKE ALL ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) TO session_analytics_reader;
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
    CONSTRAINT telemetry_associate_pkey PRIMARY KEY (session_key, associate_key),
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
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR (namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
               AND associate_namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR (namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
               AND associate_namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])));
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
BEGIN
    IF p_key IS NULL THEN
        RAISE EXCEPTION 'session_key must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO r FROM sessions.store s
     WHERE s.session_key = p_key AND s.kind = 'telemetry'
       FOR UPDATE;
    IF NOT FOUND THEN
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
    IF p_associate = p_parent.session_key OR EXISTS (
        WITH RECURSIVE down(k) AS (
            SELECT a.associate_key FROM sessions.telemetry_associate a WHERE a.session_key = p_associate
            UNION
            SELECT a.associate_key FROM sessions.telemetry_associate a JOIN down ON a.session_key = down.k
        )
        SELECT 1 FROM down WHERE k = p_parent.session_key)
    THEN
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
CREATE FUNCTION sessions.associates(session_key uuid)
RETURNS SETOF uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT a.associate_key FROM sessions.telemetry_associate a
     WHERE a.session_key = associates.session_key
     ORDER BY a.associate_key;
END;
COMMENT ON FUNCTION sessions.associates(uuid) IS 'Keys of the sessions a telemetry session lists as associates';

CREATE FUNCTION sessions.parents(session_key uuid)
RETURNS SETOF uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT a.session_key FROM sessions.telemetry_associate a
     WHERE a.associate_key = parents.session_key
     ORDER BY a.session_key;
END;
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
CREATE FUNCTION sessions.session_info(session_key uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
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
CREATE FUNCTION sessions.current_sessions(data_source text DEFAULT NULL, include_complete boolean DEFAULT false)
RETURNS TABLE (key uuid, data_source text, identifier text, type text,
               creation_time timestamptz, termination_time timestamptz, is_complete boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT t.session_key, t.data_source, t.identifier, t.type, t.creation_time, t.termination_time,
           t.termination_time IS NOT NULL
      FROM sessions.telemetry_sessions t
     WHERE (current_sessions.data_source IS NULL OR t.data_source = current_sessions.data_source)
       AND (current_sessions.include_complete OR t.termination_time IS NULL)
     ORDER BY t.creation_time DESC, t.session_key;
END;
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
    sessions.current_sessions(text, boolean), sessions.telemetry_daily(timestamptz, timestamptz, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.telemetry_details_limit(), sessions.associates(uuid), sessions.parents(uuid),
    sessions.session_info(uuid), sessions.current_sessions(text, boolean),
    sessions.telemetry_daily(timestamptz, timestamptz, text)
  TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.telemetry_row(uuid, text, boolean), sessions.telemetry_link(sessions.store, uuid),
    sessions.create_session(text, text, int, interval, text, jsonb, uuid[], timestamptz, timestamptz),
    sessions.update_session_details(uuid, jsonb), sessions.update_session_identifier(uuid, text),
    sessions.add_associate_session(uuid, uuid), sessions.end_session(uuid, text, timestamptz)
  TO session_analytics_writer;
-- session_analytics: invoice-style session lifecycle (KSeF-like), expiry,
-- maintenance and metrics.
--
-- An invoice-style session is a row of sessions.store with kind 'invoice':
-- namespace = type ('online' | 'batch'), external_id = reference number,
-- status = status name, started_at = date created, ended_at set exactly when
-- the session closes, reaches a final status or expires, valid_until.
-- doc holds {status_code, description, metadata, invoice_count, successful,
-- failed}. Leases and caller secrets live in their own tables.
--
-- Status codes (docs/lifecycle.md):
--   100 OPEN, 150 PROCESSING, 170 CLOSED, 200 SUCCEEDED,
--   4xx FAILED (e.g. 415, 445), 440 CANCELLED (EXPIRED when ended by expiry).
-- Legal moves: 100 -> 150 170 4xx 440; 150 -> 170 200 4xx 440;
--              170 -> 150 200 4xx; 200, 4xx and 440 are final.

-- References are unique within a type (store_external_key), not across
-- types: a global unique index would tell a writer that a reference exists
-- in a type it cannot see, and let it take another party's reference first.
-- Look-ups by reference alone (every function here) need an index without
-- the namespace in front.
CREATE INDEX store_invoice_reference_idx ON sessions.store (external_id) WHERE kind = 'invoice';
-- list_sessions: newest first within a type, keyset on (started_at, key).
CREATE INDEX store_invoice_list_idx ON sessions.store (namespace, started_at DESC, session_key DESC)
    WHERE kind = 'invoice';
-- expire_sessions: the open rows that carry a deadline.
CREATE INDEX store_open_valid_until_idx ON sessions.store (valid_until)
    WHERE ended_at IS NULL AND valid_until IS NOT NULL;

-- The key that signs continuation tokens and state documents: 32 random
-- bytes, one per database. No role has a grant on it (the owner aside); the
-- C code (src/lifecycle_sign.c) reads it with a table scan, which no ACL or
-- policy applies to, so tenants never see it. It is not dumped: a restored
-- database signs with a new key and earlier tokens and documents are refused.
CREATE TABLE sessions.lifecycle_key (
    id          int         NOT NULL DEFAULT 1 PRIMARY KEY CHECK (id OPERATOR(pg_catalog.=) 1),
    hmac_key    bytea       NOT NULL CHECK (pg_catalog.octet_length(hmac_key) OPERATOR(pg_catalog.=) 32),
    rotated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sessions.lifecycle_key IS
  'HMAC-SHA256 key of continuation tokens and state documents (one row); no grants, read by the extension''s C code only';
REVOKE ALL ON sessions.lifecycle_key FROM PUBLIC;

/*
 * lifecycle_key_changed
 *		Statement trigger: every backend forgets its cached key when the
 *		table changes (rotation, a key restored from a backup, a delete).
 */
CREATE FUNCTION sessions.lifecycle_key_changed()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_key_changed';
COMMENT ON FUNCTION sessions.lifecycle_key_changed() IS
  'Trigger on sessions.lifecycle_key only: invalidates the signing key cached by every backend';
REVOKE ALL ON FUNCTION sessions.lifecycle_key_changed() FROM PUBLIC;
CREATE TRIGGER lifecycle_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions.lifecycle_key
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.lifecycle_key_changed();

/*
 * rotate_lifecycle_key
 *		A new random key (pg_strong_random); every token and state document
 *		issued before is refused afterwards. Owner only.
 */
CREATE FUNCTION sessions.rotate_lifecycle_key()
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_rotate_key';
COMMENT ON FUNCTION sessions.rotate_lifecycle_key() IS
  'Replaces the database''s signing key with 32 random bytes; earlier continuation tokens and state documents are refused (extension owner only)';
REVOKE ALL ON FUNCTION sessions.rotate_lifecycle_key() FROM PUBLIC;
SELECT sessions.rotate_lifecycle_key();

/*
 * invoice_status_name
 *		Status name for a code; NULL for a code that is not a status.
 */
CREATE FUNCTION sessions.invoice_status_name(code int)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN code = 100 THEN 'OPEN'
    WHEN code = 150 THEN 'PROCESSING'
    WHEN code = 170 THEN 'CLOSED'
    WHEN code = 200 THEN 'SUCCEEDED'
    WHEN code = 440 THEN 'CANCELLED'
    WHEN code BETWEEN 400 AND 499 THEN 'FAILED'
END;
COMMENT ON FUNCTION sessions.invoice_status_name(int) IS
  'Invoice-style status name for a code (100 OPEN, 150 PROCESSING, 170 CLOSED, 200 SUCCEEDED, 440 CANCELLED, other 4xx FAILED)';

/*
 * invoice_status_description
 *		Default description of a code, used when the caller gives none.
 */
CREATE FUNCTION sessions.invoice_status_description(code int)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN code = 100 THEN 'Session open'
    WHEN code = 150 THEN 'Processing'
    WHEN code = 170 THEN 'Session closed'
    WHEN code = 200 THEN 'Processed successfully'
    WHEN code = 415 THEN 'Failed: the session key could not be decrypted'
    WHEN code = 440 THEN 'Session cancelled'
    WHEN code = 445 THEN 'Failed: no valid items'
    WHEN code BETWEEN 400 AND 499 THEN 'Failed'
END;
COMMENT ON FUNCTION sessions.invoice_status_description(int) IS
  'Default description of an invoice-style status code';

/*
 * invoice_sessions
 *		Invoice-style rows with their status as of now: an OPEN or
 *		PROCESSING row past valid_until reads as 440 EXPIRED, ended at
 *		valid_until. status_doc is the session_status() document.
 */
CREATE VIEW sessions.invoice_sessions WITH (security_invoker = true) AS
SELECT v.*,
       pg_catalog.jsonb_build_object(
           'reference', v.reference,
           'type', v.type,
           'status', pg_catalog.jsonb_build_object('code', v.code, 'name', v.name, 'description', v.description),
           'date_created', v.date_created,
           'date_updated', v.date_updated,
           'date_ended', v.date_ended,
           'valid_until', v.valid_until,
           'invoice_count', v.invoice_count,
           'successful', v.successful,
           'failed', v.failed) AS status_doc
  FROM (
    SELECT s.session_key, s.namespace AS type, s.external_id AS reference,
           CASE WHEN x.expired THEN 440 ELSE (s.doc ->> 'status_code')::int END AS code,
           CASE WHEN x.expired THEN 'EXPIRED' ELSE s.status END AS name,
           CASE WHEN x.expired THEN 'Session expired: valid_until passed' ELSE s.doc ->> 'description' END AS description,
           s.started_at AS date_created,
           CASE WHEN x.expired THEN greatest(s.valid_until, s.last_updated) ELSE s.last_updated END AS date_updated,
           CASE WHEN x.expired THEN greatest(s.valid_until, s.started_at) ELSE s.ended_at END AS date_ended,
           s.valid_until,
           coalesce((s.doc ->> 'invoice_count')::bigint, 0) AS invoice_count,
           coalesce((s.doc ->> 'successful')::bigint, 0) AS successful,
           coalesce((s.doc ->> 'failed')::bigint, 0) AS failed,
           coalesce(s.doc -> 'metadata', '{}') AS metadata
      FROM sessions.store s
     CROSS JOIN LATERAL (SELECT s.ended_at IS NULL AND s.valid_until <= pg_catalog.now() AS expired) x
     WHERE s.kind = 'invoice') v;
COMMENT ON VIEW sessions.invoice_sessions IS
  'Invoice-style sessions with their status as of now (open past valid_until reads as 440 EXPIRED)';
GRANT SELECT ON sessions.invoice_sessions TO session_analytics_reader;

/*
 * invoice_row
 *		Locks an invoice-style session by reference (FOR UPDATE). An open row
 *		past valid_until is written as expired on the way, so the caller sees
 *		the same status a reader would.
 */
CREATE FUNCTION sessions.invoice_row(p_reference text)
RETURNS sessions.store
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    x sessions.store;
    n pg_catalog.int4 := 0;
BEGIN
    IF coalesce(p_reference, '') = '' THEN
        RAISE EXCEPTION 'reference must not be empty' USING ERRCODE = '22023';
    END IF;
    -- References are unique within a type only: a role that sees two types
    -- may see one reference twice, and must not act on either by chance.
    -- One query reads (and locks) up to two rows: cheaper than a second
    -- look-up, and no subtransaction (which would take a subxid per call).
    FOR x IN SELECT * FROM sessions.store s
              WHERE s.kind = 'invoice' AND s.external_id = p_reference
              LIMIT 2 FOR UPDATE LOOP
        n := n + 1;
        r := x;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'session "%" does not exist', (CASE WHEN pg_catalog.length(p_reference) > 64 THEN pg_catalog.left(p_reference, 64) || '...' ELSE p_reference END)
            USING ERRCODE = 'P0002', HINT = 'Open one with sessions.open_session().';
    ELSIF n > 1 THEN
        RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(p_reference) > 64 THEN pg_catalog.left(p_reference, 64) || '...' ELSE p_reference END)
            USING ERRCODE = '21000',
                  HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END IF;
    -- A due expiry is written first (the row is locked already), so the
    -- caller acts on the status a reader sees.
    IF r.ended_at IS NULL AND r.valid_until <= pg_catalog.now() THEN
        UPDATE sessions.store s
           SET status = 'EXPIRED', ended_at = GREATEST(r.valid_until, r.started_at), last_updated = pg_catalog.now(),
               doc = s.doc || '{"status_code": 440, "description": "Session expired: valid_until passed"}'::jsonb
         WHERE s.session_key = r.session_key AND s.namespace = r.namespace
        RETURNING * INTO r;
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.invoice_row(text) IS
  'Locks an invoice-style session by reference (22023 empty, P0002 unknown, 21000 when the caller sees it in two types), writing a due expiry first';

/*
 * invoice_reference
 *		A new reference number: YYYYMMDD-S{O|B}-XXXXXXXXXX-XXXXXXXXXX-CC with
 *		the UTC date, O(nline)/B(atch), 20 random upper-case hex digits and a
 *		two-digit hex check (first byte of SHA-256 of the rest).
 */
CREATE FUNCTION sessions.invoice_reference(type text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    h text := pg_catalog.upper(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''));
    body text;
BEGIN
    body := pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-S' || CASE type WHEN 'batch' THEN 'B' ELSE 'O' END
            || '-' || pg_catalog.substr(h, 1, 10) || '-' || pg_catalog.substr(h, 13, 10);
    RETURN body || '-' || pg_catalog.upper(pg_catalog.substr(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(body, 'UTF8')), 'hex'), 1, 2));
END
$$;
COMMENT ON FUNCTION sessions.invoice_reference(text) IS
  'Allocates a reference number YYYYMMDD-SO|SB-<10 hex>-<10 hex>-<2 hex check>';

/*
 * open_session
 *		Opens an invoice-style session (status 100) and returns its reference.
 */
CREATE FUNCTION sessions.open_session(
    type text,
    valid_for interval DEFAULT '12 hours',
    reference text DEFAULT NULL,
    metadata jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    ref text := reference;
BEGIN
    IF type IS NULL OR type NOT IN ('online', 'batch') THEN
        RAISE EXCEPTION 'type must be ''online'' or ''batch''' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(pg_catalog.quote_literal(type), 'NULL'));
    END IF;
    IF valid_for IS NULL OR valid_for <= interval '0' OR NOT pg_catalog.isfinite(pg_catalog.now() + valid_for) THEN
        RAISE EXCEPTION 'valid_for must be a positive interval' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(valid_for::text, 'NULL'));
    END IF;
    IF ref IS NOT NULL AND ref !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' THEN
        RAISE EXCEPTION 'reference must be 1-64 characters of letters, digits, ".", "_" or "-"'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', pg_catalog.quote_literal((CASE WHEN pg_catalog.length(ref) > 64 THEN pg_catalog.left(ref, 64) || '...' ELSE ref END))),
                  HINT = 'Pass NULL to have one allocated.';
    END IF;
    IF metadata IS NULL OR pg_catalog.jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.octet_length(metadata::text) > 65536 THEN
        RAISE EXCEPTION 'metadata too large: % bytes', pg_catalog.octet_length(metadata::text)
            USING ERRCODE = '22001', DETAIL = 'The limit is 65536 bytes of JSON text.';
    END IF;
    ref := coalesce(ref, sessions.invoice_reference(type));
    BEGIN
        INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until, doc)
        VALUES ('invoice', type, ref, 'OPEN', pg_catalog.now(), pg_catalog.now() + valid_for,
                pg_catalog.jsonb_build_object('status_code', 100, 'description', sessions.invoice_status_description(100),
                                   'metadata', metadata, 'invoice_count', 0, 'successful', 0, 'failed', 0));
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'session "%" already exists', ref USING ERRCODE = '23505';
    END;
    RETURN ref;
END
$$;
COMMENT ON FUNCTION sessions.open_session(text, interval, text, jsonb) IS
  'Opens an invoice-style session (status 100) valid for valid_for; returns its reference (allocated when NULL)';

/*
 * set_session_status
 *		Moves a session to a new status code if the move is legal; setting
 *		the current code again only refreshes the description. Closing or a
 *		final status sets ended_at once.
 */
CREATE FUNCTION sessions.set_session_status(reference text, code int, description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    cur int;
BEGIN
    IF sessions.invoice_status_name(code) IS NULL THEN
        RAISE EXCEPTION 'status code % is not a session status', coalesce(code::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Codes: 100, 150, 170, 200, 440 and other 4xx (failed).';
    END IF;
    r := sessions.invoice_row(reference);
    cur := (r.doc ->> 'status_code')::int;
    -- Legal moves: 100 -> 150 170 4xx 440; 150 -> 170 200 4xx 440;
    -- 170 -> 150 200 4xx; 200, 4xx and 440 are final.
    IF cur <> code AND NOT (CASE
           WHEN cur = 100 THEN code IN (150, 170) OR code BETWEEN 400 AND 499
           WHEN cur = 150 THEN code IN (170, 200) OR code BETWEEN 400 AND 499
           WHEN cur = 170 THEN code IN (150, 200) OR (code BETWEEN 400 AND 499 AND code <> 440)
           ELSE false END) THEN
        RAISE EXCEPTION 'session "%" cannot move from status % to %', reference, cur, code
            USING ERRCODE = '55000',
                  DETAIL = pg_catalog.format('The session is %s (%s).', r.status, cur),
                  HINT = CASE WHEN cur NOT IN (100, 150, 170) THEN 'The session has reached a final status.'
                              ELSE 'Legal moves: 100 -> 150/170/4xx/440, 150 -> 170/200/4xx/440, 170 -> 150/200/4xx.' END;
    END IF;
    UPDATE sessions.store s
       SET status = CASE WHEN cur = code THEN s.status ELSE sessions.invoice_status_name(code) END,
           ended_at = CASE WHEN code IN (100, 150) THEN s.ended_at ELSE coalesce(s.ended_at, greatest(pg_catalog.now(), s.started_at)) END,
           last_updated = pg_catalog.now(),
           doc = s.doc || pg_catalog.jsonb_build_object('status_code', code, 'description',
                     coalesce(description, CASE WHEN cur = code THEN s.doc ->> 'description' END,
                              sessions.invoice_status_description(code)))
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN sessions.session_status(reference);
END
$$;

/*
 * count_session_item
 *		Counts one processed item (invoice) as successful or failed; allowed
 *		until the session reaches a final status.
 */
CREATE FUNCTION sessions.count_session_item(reference text, ok boolean)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF ok IS NULL THEN
        RAISE EXCEPTION 'ok must not be NULL' USING ERRCODE = '22004';
    END IF;
    r := sessions.invoice_row(reference);
    IF (r.doc ->> 'status_code')::int NOT IN (100, 150, 170) THEN
        RAISE EXCEPTION 'session "%" is % and no longer counts items', reference, r.status
            USING ERRCODE = '55000';
    END IF;
    UPDATE sessions.store s
       SET last_updated = pg_catalog.now(),
           doc = s.doc || pg_catalog.jsonb_build_object(
               'invoice_count', coalesce((s.doc ->> 'invoice_count')::bigint, 0) + 1,
               'successful', coalesce((s.doc ->> 'successful')::bigint, 0) + ok::int,
               'failed', coalesce((s.doc ->> 'failed')::bigint, 0) + (NOT ok)::int)
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace
    RETURNING pg_catalog.jsonb_build_object('invoice_count', (s.doc ->> 'invoice_count')::bigint,
                                 'successful', (s.doc ->> 'successful')::bigint,
                                 'failed', (s.doc ->> 'failed')::bigint) INTO STRICT r.doc;
    RETURN r.doc;
END
$$;
COMMENT ON FUNCTION sessions.count_session_item(text, boolean) IS
  'Counts one processed item as successful (ok) or failed; returns {invoice_count, successful, failed}';

/*
 * session_status
 *		Status document: {reference, type, status {code, name, description},
 *		date_created, date_updated, date_ended, valid_until, counters}.
 */
CREATE FUNCTION sessions.session_status(reference text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    d jsonb;
BEGIN
    IF coalesce(reference, '') = '' THEN
        RAISE EXCEPTION 'reference must not be empty' USING ERRCODE = '22023';
    END IF;
    -- STRICT fetches a second row only to see whether there is one: the
    -- ambiguity check costs no second query (references are unique within
    -- a type only, and a role that sees both types may see one twice).
    BEGIN
        SELECT v.status_doc INTO STRICT d
          FROM sessions.invoice_sessions v WHERE v.reference = session_status.reference;
    EXCEPTION
        WHEN no_data_found THEN
            RAISE EXCEPTION 'session "%" does not exist', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END) USING ERRCODE = 'P0002';
        WHEN too_many_rows THEN
            RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END)
                USING ERRCODE = '21000',
                      HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END;
    RETURN d;
END
$$;
COMMENT ON FUNCTION sessions.session_status(text) IS
  'Status of an invoice-style session: status {code, name, description}, dates, valid_until, counters';

COMMENT ON FUNCTION sessions.set_session_status(text, int, text) IS
  'Moves an invoice-style session to a status code if legal (55000 otherwise); returns session_status()';

/*
 * continuation_token / continuation_cursor
 *		The signed keyset cursor of list_sessions() (src/lifecycle_sign.c):
 *		base64url(JSON {v, q, c, k}) "." hex HMAC-SHA256. A token is made
 *		only for a row the caller can see (its date created is re-read under
 *		the caller's row-level security) and every field is checked on the
 *		way back. Tokens carry no rights: every page is read under RLS.
 */
CREATE FUNCTION sessions.continuation_token(q text, type text, session_key uuid)
RETURNS text
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_continuation_token';
COMMENT ON FUNCTION sessions.continuation_token(text, text, uuid) IS
  'Continuation token of list_sessions() after the visible invoice-style session (type, session_key), bound to the filter hash q';

CREATE FUNCTION sessions.continuation_cursor(token text, q text, OUT c timestamptz, OUT k uuid)
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_continuation_cursor';
COMMENT ON FUNCTION sessions.continuation_cursor(text, text) IS
  'Checks a list_sessions() continuation token for the filter hash q (22023 when altered, foreign or of another query); returns its (date created, key)';

/*
 * list_sessions
 *		Newest first, keyset paging on (date created, key). q binds a token
 *		to the query's filters, (c, k) is the last row returned. Rows
 *		inserted while paging are newer than the cursor and never shift
 *		later pages.
 */
CREATE FUNCTION sessions.invoice_list_page(
    type text, statuses int[], created_from timestamptz, created_to timestamptz,
    page_size int, continuation text, OUT page jsonb, OUT next_token text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- A generic plan cannot see the cursor and may walk another index from the
-- newest row on; planning each page with its values keeps the keyset range.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    q text;
    after_c timestamptz;
    after_k uuid;
    n int;
    last_k uuid;
BEGIN
    IF type IS NULL OR type NOT IN ('online', 'batch') THEN
        RAISE EXCEPTION 'type must be ''online'' or ''batch''' USING ERRCODE = '22023';
    END IF;
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(page_size::text, 'NULL'));
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest(statuses) c WHERE sessions.invoice_status_name(c) IS NULL) THEN
        RAISE EXCEPTION 'statuses contains a code that is not a session status' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', (CASE WHEN pg_catalog.length(statuses::pg_catalog.text) > 64 THEN pg_catalog.left(statuses::pg_catalog.text, 64) || '...' ELSE statuses::pg_catalog.text END));
    END IF;
    q := pg_catalog.md5(pg_catalog.concat_ws('|', type,
             (SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) FROM pg_catalog.unnest(statuses) c)::text,
             -- epoch seconds as numeric text: exact, and defined for +-infinity
             EXTRACT(epoch FROM created_from)::pg_catalog.text,
             EXTRACT(epoch FROM created_to)::pg_catalog.text));

    IF continuation IS NOT NULL THEN
        SELECT t.c, t.k INTO after_c, after_k FROM sessions.continuation_cursor(continuation, q) t;
    END IF;

    SELECT coalesce(pg_catalog.jsonb_agg(p.status_doc ORDER BY p.rn) FILTER (WHERE p.rn <= page_size), '[]'),
           pg_catalog.count(*),
           (pg_catalog.array_agg(p.session_key) FILTER (WHERE p.rn = page_size))[1]
      INTO page, n, last_k
      FROM (SELECT v.status_doc, v.session_key,
                   pg_catalog.row_number() OVER (ORDER BY v.date_created DESC, v.session_key DESC) AS rn
              FROM sessions.invoice_sessions v
             WHERE v.type = invoice_list_page.type
               AND (statuses IS NULL OR v.code = ANY (statuses))
               AND v.date_created >= coalesce(created_from, '-infinity')
               AND v.date_created < coalesce(created_to, 'infinity')
               -- One row comparison, no OR: the index range starts at the cursor.
               AND (v.date_created, v.session_key)
                   < (coalesce(after_c, 'infinity'), coalesce(after_k, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
             ORDER BY v.date_created DESC, v.session_key DESC
             LIMIT page_size + 1) p;

    IF n > page_size THEN
        -- One row more than a page exists: point the token after this page.
        next_token := sessions.continuation_token(q, type, last_k);
    END IF;
END
$$;
COMMENT ON FUNCTION sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text) IS
  'One page of list_sessions(): the items and the next continuation token (NULL on the last page)';

CREATE FUNCTION sessions.list_sessions(
    type text,
    statuses int[] DEFAULT NULL,
    created_from timestamptz DEFAULT NULL,
    created_to timestamptz DEFAULT NULL,
    page_size int DEFAULT 10,
    continuation text DEFAULT NULL)
RETURNS TABLE (items jsonb, continuation text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT p.page, p.next_token FROM sessions.invoice_list_page($1, $2, $3, $4, $5, $6) p;
END;
COMMENT ON FUNCTION sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text) IS
  'Invoice-style sessions of a type, newest first, one page per call; continuation is an HMAC-signed keyset token (NULL on the last page)';

/*
 * terminate_session
 *		Closes an open or processing session (170): true when this call
 *		closed it, false when it was already closed, final or expired.
 */
CREATE FUNCTION sessions.terminate_session(reference text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    r := sessions.invoice_row(reference);
    IF r.ended_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE sessions.store s
       SET status = 'CLOSED', ended_at = greatest(pg_catalog.now(), s.started_at), last_updated = pg_catalog.now(),
           doc = s.doc || pg_catalog.jsonb_build_object('status_code', 170, 'description', sessions.invoice_status_description(170))
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN true;
END
$$;
COMMENT ON FUNCTION sessions.terminate_session(text) IS
  'Closes an invoice-style session (170); true when closed now, false when already closed, final or expired';

/*
 * session_state
 *		A state document another process can pass to resume_session():
 *		format_version 2, reference, type, session_key, date_created and
 *		valid_until (UTC), signature (hex HMAC-SHA256 over the other fields).
 *		Read under the caller's row-level security; never carries secrets or
 *		metadata (src/lifecycle_sign.c).
 */
CREATE FUNCTION sessions.session_state(reference text)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_session_state';
COMMENT ON FUNCTION sessions.session_state(text) IS
  'Signed, versioned (format_version 2) state document of an invoice-style session, for resume_session() in another process';

/*
 * resume_session
 *		Checks a state document and returns the live status. Refuses
 *		malformed, altered or foreign documents (22023), a format_version
 *		other than 2 (0A000), sessions the caller cannot see (P0002) and
 *		sessions that are closed, final or expired (55000).
 */
CREATE FUNCTION sessions.resume_session(state jsonb)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_resume_session';
COMMENT ON FUNCTION sessions.resume_session(jsonb) IS
  'Validates a state document from session_state() and returns the live status; refuses forged, foreign, unknown, closed or expired sessions';

-- Secrets a caller keeps with a session (e.g. an encryption key). RLS lets
-- only the role that stored a secret read or change it; the reader role has
-- no access at all. Nothing in this extension prints or returns a secret
-- except session_secret() to its owner.
CREATE TABLE sessions.invoice_secret (
    session_key  uuid NOT NULL,
    namespace    text NOT NULL,
    owner_role   name NOT NULL DEFAULT current_user,
    secret       bytea NOT NULL,
    CONSTRAINT invoice_secret_pkey PRIMARY KEY (session_key, namespace),
    CONSTRAINT invoice_secret_store_fkey FOREIGN KEY (session_key, namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE
);
COMMENT ON TABLE sessions.invoice_secret IS
  'Caller secrets of invoice-style sessions; each row readable only by the role that stored it';
SELECT pg_catalog.pg_extension_config_dump('sessions.invoice_secret', '');
ALTER TABLE sessions.invoice_secret ENABLE ROW LEVEL SECURITY;
-- The row's owner, and only while its namespace is visible: a writer cannot
-- store a secret for a session of a type it is not mapped to. The check
-- runs before the foreign key's, so a made-up key in such a namespace gets
-- the same 42501 as a real one and tells nothing about which keys exist.
CREATE POLICY invoice_secret_owner ON sessions.invoice_secret
    USING (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
                OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])))
    WITH CHECK (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
                OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])));
REVOKE ALL ON sessions.invoice_secret FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions.invoice_secret TO session_analytics_writer;

/*
 * set_session_secret / session_secret
 *		Store (replace) and read the caller's secret of a session. Errors
 *		name the reference, never the secret.
 */
CREATE FUNCTION sessions.set_session_secret(reference text, secret bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF secret IS NULL OR pg_catalog.length(secret) = 0 THEN
        RAISE EXCEPTION 'secret must not be empty' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    IF r.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'session "%" has ended', reference USING ERRCODE = '55000';
    END IF;
    BEGIN
        INSERT INTO sessions.invoice_secret AS t (session_key, namespace, secret)
        VALUES (r.session_key, r.namespace, secret)
        ON CONFLICT (session_key, namespace) DO UPDATE SET secret = excluded.secret
         WHERE t.owner_role = current_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '42501';
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'session "%" has a secret stored by another role', reference USING ERRCODE = '42501';
    END;
END
$$;
COMMENT ON FUNCTION sessions.set_session_secret(text, bytea) IS
  'Stores the caller''s secret for an open session, readable only by the same role (42501 if another role stored one)';

CREATE FUNCTION sessions.session_secret(reference text)
RETURNS bytea
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    secrets bytea[];
BEGIN
    SELECT pg_catalog.array_agg(t.secret) INTO secrets
      FROM sessions.invoice_secret t
      JOIN sessions.store s ON s.session_key = t.session_key AND s.namespace = t.namespace
     WHERE s.kind = 'invoice' AND s.external_id = session_secret.reference;
    IF pg_catalog.cardinality(secrets) > 1 THEN
        RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END)
            USING ERRCODE = '21000',
                  HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END IF;
    RETURN secrets[1];
END
$$;
COMMENT ON FUNCTION sessions.session_secret(text) IS
  'The secret the current role stored for a session (NULL when none or stored by another role)';

-- Leases: one holder works a session at a time.
CREATE TABLE sessions.session_lease (
    session_key  uuid        NOT NULL,
    namespace    text        NOT NULL,
    holder       text        NOT NULL CHECK (holder <> ''),
    claimed_at   timestamptz NOT NULL,
    lease_until  timestamptz NOT NULL,
    CONSTRAINT session_lease_pkey PRIMARY KEY (session_key, namespace),
    CONSTRAINT session_lease_store_fkey FOREIGN KEY (session_key, namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE
);
COMMENT ON TABLE sessions.session_lease IS 'Current lease holder of an invoice-style session';
ALTER TABLE sessions.session_lease ENABLE ROW LEVEL SECURITY;
CREATE POLICY session_lease_by_namespace ON sessions.session_lease
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));
REVOKE ALL ON sessions.session_lease FROM PUBLIC;
GRANT SELECT ON sessions.session_lease TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.session_lease TO session_analytics_writer;

/*
 * claim_session
 *		Takes (or renews) the lease of a session for holder: true when the
 *		caller holds it afterwards, false when another holder's lease is still
 *		running. The store row is locked first, so concurrent claims queue and
 *		exactly one wins; a lapsed lease is taken over.
 */
CREATE FUNCTION sessions.claim_session(reference text, holder text, lease interval)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    t timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF coalesce(holder, '') = '' THEN
        RAISE EXCEPTION 'holder must not be empty' USING ERRCODE = '22023';
    END IF;
    IF lease IS NULL OR lease <= interval '0' OR NOT pg_catalog.isfinite(t + lease) THEN
        RAISE EXCEPTION 'lease must be a positive interval' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    IF (r.doc ->> 'status_code')::int NOT IN (100, 150, 170) THEN
        RAISE EXCEPTION 'session "%" is % and cannot be claimed', reference, r.status USING ERRCODE = '55000';
    END IF;
    t := pg_catalog.clock_timestamp();
    INSERT INTO sessions.session_lease AS l (session_key, namespace, holder, claimed_at, lease_until)
    VALUES (r.session_key, r.namespace, holder, t, t + lease)
    ON CONFLICT (session_key, namespace) DO UPDATE
       SET holder = excluded.holder,
           claimed_at = CASE WHEN l.holder = excluded.holder THEN l.claimed_at ELSE excluded.claimed_at END,
           lease_until = excluded.lease_until
     WHERE l.holder = excluded.holder OR l.lease_until <= t;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sessions.claim_session(text, text, interval) IS
  'Claims or renews the lease of an invoice-style session for holder; false while another holder''s lease runs';

/*
 * release_session
 *		Gives up holder's lease: true when holder held it, false otherwise.
 */
CREATE FUNCTION sessions.release_session(reference text, holder text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF coalesce(holder, '') = '' THEN
        RAISE EXCEPTION 'holder must not be empty' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    DELETE FROM sessions.session_lease l
     WHERE l.session_key = r.session_key AND l.namespace = r.namespace AND l.holder = release_session.holder;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sessions.release_session(text, text) IS
  'Releases holder''s lease of an invoice-style session; false when holder did not hold it';

/*
 * expire_sessions
 *		Ends every open session past valid_until: telemetry becomes EXPIRED
 *		with termination at valid_until, invoice-style becomes 440 EXPIRED.
 *		Runs as the extension owner so it sees every namespace; called by the
 *		expiry worker through maintenance(), or scheduled with pg_cron.
 */
CREATE FUNCTION sessions.expire_sessions()
RETURNS int
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    WITH e AS (
        UPDATE sessions.store s
           SET status = 'EXPIRED', ended_at = greatest(s.valid_until, s.started_at), last_updated = pg_catalog.now(),
               doc = CASE WHEN s.kind = 'invoice'
                          THEN s.doc || '{"status_code": 440, "description": "Session expired: valid_until passed"}'::jsonb
                          ELSE s.doc END
         WHERE s.kind IN ('telemetry', 'invoice') AND s.ended_at IS NULL AND s.valid_until <= pg_catalog.now()
        RETURNING 1
    )
    SELECT pg_catalog.count(*)::int FROM e;
END;
COMMENT ON FUNCTION sessions.expire_sessions() IS
  'Ends telemetry and invoice-style sessions past valid_until (EXPIRED / 440); returns how many';

/*
 * maintenance
 *		What the background worker runs each interval; returns a summary.
 */
CREATE FUNCTION sessions.maintenance()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    RETURN pg_catalog.jsonb_build_object('expired', sessions.expire_sessions(),
                              'events_pruned', sessions.prune_events(), 'at', pg_catalog.now());
END
$$;
COMMENT ON FUNCTION sessions.maintenance() IS
  'Periodic housekeeping run by the expiry worker (expire_sessions(), prune_events()); returns {"expired": n, "events_pruned": n, "at": time}';

/*
 * metric_samples
 *		Sessions by kind, namespace (data source) and state as of now:
 *		live, ended (any way but expiry) or expired. A table for
 *		postgres_exporter custom queries; metrics() formats the same rows.
 */
CREATE FUNCTION sessions.metric_samples()
RETURNS TABLE (kind text, data_source text, state text, sessions bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT s.kind, s.namespace,
           CASE WHEN s.status = 'EXPIRED' OR (s.ended_at IS NULL AND s.valid_until <= pg_catalog.now()) THEN 'expired'
                WHEN s.ended_at IS NOT NULL OR s.status IN ('COMPLETED', 'INVALID', 'FINISHED') THEN 'ended'
                ELSE 'live' END AS st,
           pg_catalog.count(*)
      FROM sessions.store s
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
END;
COMMENT ON FUNCTION sessions.metric_samples() IS
  'Session counts by kind, data source (namespace) and state (live, ended, expired) visible to the caller';

/*
 * metrics
 *		Prometheus text exposition: gauge sessions_total{kind,data_source,
 *		state}, counters sessions_ended_total and sessions_expired_total
 *		{kind,data_source} (ended includes expired).
 */
CREATE FUNCTION sessions.metrics()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    WITH m AS (
        SELECT s.kind, pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(s.data_source, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS ds,
               s.state, s.sessions
          FROM sessions.metric_samples() s
    ), by_source AS (
        SELECT m.kind, m.ds,
               pg_catalog.sum(m.sessions) FILTER (WHERE m.state <> 'live') AS ended,
               pg_catalog.sum(m.sessions) FILTER (WHERE m.state = 'expired') AS expired
          FROM m GROUP BY 1, 2
    )
    SELECT E'# HELP sessions_total Sessions in the store by kind, data source and state.\n'
        || E'# TYPE sessions_total gauge\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_total{kind="%s",data_source="%s",state="%s"} %s', m.kind, m.ds, m.state, m.sessions), E'\n' ORDER BY m.kind, m.ds, m.state) || E'\n' FROM m), '')
        || E'# HELP sessions_ended_total Sessions that have ended (including by expiry).\n'
        || E'# TYPE sessions_ended_total counter\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_ended_total{kind="%s",data_source="%s"} %s', b.kind, b.ds, coalesce(b.ended, 0)), E'\n' ORDER BY b.kind, b.ds) || E'\n' FROM by_source b), '')
        || E'# HELP sessions_expired_total Sessions ended because valid_until passed.\n'
        || E'# TYPE sessions_expired_total counter\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_expired_total{kind="%s",data_source="%s"} %s', b.kind, b.ds, coalesce(b.expired, 0)), E'\n' ORDER BY b.kind, b.ds) || E'\n' FROM by_source b), '');
END;
COMMENT ON FUNCTION sessions.metrics() IS
  'Prometheus exposition text: sessions_total gauge, sessions_ended_total and sessions_expired_total counters';

-- Privileges: no function is executable by PUBLIC; readers read, writers
-- change. invoice_row is the helper of the writer functions above, which run
-- as their caller (row-level security applies), so writers need EXECUTE on
-- it; called directly it locks and writes only rows the caller could change
-- with its own table privileges. invoice_status_name/description document
-- the status codes and are readers' to call. expire_sessions() and
-- maintenance() cross tenants (they run as the owner): only the owner, the
-- expiry worker and pg_cron jobs run them.
REVOKE ALL ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  TO session_analytics_reader;
REVOKE ALL ON FUNCTION sessions.invoice_row(text),
    sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text),
    sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text),
    sessions.invoice_reference(text), sessions.open_session(text, interval, text, jsonb),
    sessions.set_session_status(text, int, text), sessions.count_session_item(text, boolean),
    sessions.session_status(text), sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text),
    sessions.terminate_session(text), sessions.session_state(text), sessions.resume_session(jsonb),
    sessions.set_session_secret(text, bytea), sessions.session_secret(text),
    sessions.claim_session(text, text, interval), sessions.release_session(text, text),
    sessions.expire_sessions(), sessions.maintenance(), sessions.metric_samples(), sessions.metrics()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.session_status(text),
    sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text),
    sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text),
    sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text), sessions.session_state(text),
    sessions.resume_session(jsonb), sessions.metric_samples(), sessions.metrics()
  TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.invoice_row(text), sessions.invoice_reference(text),
    sessions.open_session(text, interval, text, jsonb), sessions.set_session_status(text, int, text),
    sessions.count_session_item(text, boolean), sessions.terminate_session(text),
    sessions.set_session_secret(text, bytea), sessions.session_secret(text),
    sessions.claim_session(text, text, interval), sessions.release_session(text, text)
  TO session_analytics_writer;
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
-- Retention deletes by age: a BRIN index is tiny and costs writers nothing.
CREATE INDEX event_log_logged_at_idx ON sessions.event_log USING brin (logged_at);

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
-- session_analytics: the notifier's status (src/notify_worker.c).
--
-- With the library in shared_preload_libraries a background worker sends
-- the event notifications of session_analytics.database, so writers never
-- take the NOTIFY lock (session_analytics.notify_mode, docs/notifications.md).

CREATE FUNCTION sessions.notify_status(OUT mode text, OUT notifier_pid int, OUT delivered_seq bigint)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'sa_notify_status';
COMMENT ON FUNCTION sessions.notify_status() IS
  'Who notifies this database''s events now (commit, worker or off), the notifier''s pid, and the last seq it delivered here';

REVOKE ALL ON FUNCTION sessions.notify_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.notify_status() TO session_analytics_reader, session_analytics_writer;
