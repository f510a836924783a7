-- session_analytics 0.1.0 -> 0.2.0
--
-- Moves a database installed as 0.1.0 (src/session_analytics--0.1.0.sql) to
-- the catalog a fresh 0.2.0 install creates (test/cli/upgrade.t compares
-- the two object by object). Hand-written, in the order of the master SQL
-- (src/sql/NN_*.sql); every change to the SQL API of 0.2.0 goes here in the
-- same commit (docs/development.md). Rules kept here:
--   - functions whose body or options changed: CREATE OR REPLACE with the
--     master text verbatim (bodies are compared byte for byte), then their
--     COMMENT; grants survive CREATE OR REPLACE, so changed grants are
--     stated explicitly;
--   - helpers 0.2.0 folded into their callers are dropped after the callers
--     no longer use them;
--   - tables keep their rows: changed tables are altered in place (never
--     recreated: sessions.event_log's OID is the notifier's position), or
--     rebuilt with their rows copied when the column order changes; the one
--     exception is sessions.lifecycle_key, whose key 0.2.0 cannot use.

\echo Use "ALTER EXTENSION session_analytics UPDATE TO '0.2.0'" to load this file. \quit

-- 00_store -------------------------------------------------------------------

-- The install-hijack guard of 0.2.0 also guards the update: the functions
-- below run as the superuser updating the extension, and later as the
-- expiry worker, so refuse to update a schema that a non-superuser controls.
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

-- visible_namespaces: a mapping applies through pg_has_role USAGE, as table
-- privileges do (a NOINHERIT member needs SET ROLE); no PUBLIC EXECUTE.
CREATE OR REPLACE FUNCTION sessions.visible_namespaces()
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

REVOKE ALL ON FUNCTION sessions.visible_namespaces() FROM PUBLIC;

-- role_namespace: each role sees only the mappings that apply to it.
ALTER TABLE sessions.role_namespace ENABLE ROW LEVEL SECURITY;
CREATE POLICY role_namespace_own ON sessions.role_namespace FOR SELECT
    USING (EXISTS (SELECT FROM pg_catalog.pg_roles g
                    WHERE g.rolname OPERATOR(pg_catalog.=) role_name
                      AND pg_catalog.pg_has_role(g.oid, 'USAGE')));

-- 10_ocpi --------------------------------------------------------------------

-- Names in the bodies qualified (pg_catalog.); the validators are not PUBLIC.
CREATE OR REPLACE FUNCTION sessions.ocpi_list(date_from timestamptz, date_to timestamptz DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION sessions.ocpi_put_charging_preferences(country_code text, party_id text,
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

REVOKE ALL ON FUNCTION sessions.ocpi_validate(jsonb, text),
                       sessions.ocpi_validate_charging_preferences(jsonb)
  FROM PUBLIC;

-- 20_analytics ----------------------------------------------------------------

-- The reports: names qualified (operators too).
CREATE OR REPLACE FUNCTION sessions.daily_report(
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
CREATE OR REPLACE FUNCTION sessions.summary_report(
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
CREATE OR REPLACE FUNCTION sessions.user_report(
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

-- Privileges: nothing PUBLIC. The aggregates' support functions and the
-- binary I/O are the server's only (it checks the aggregate owner's EXECUTE,
-- not the caller's): readers lose EXECUTE on them; the user-facing
-- functions stay the readers'.
REVOKE ALL ON TYPE sessions.session_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION
    sessions.classify(float8, float8),
    sessions.average_power_w(float8, timestamptz, timestamptz),
    sessions.average_current_a(float8, timestamptz, timestamptz, float8),
    sessions.charge_rating(float8, float8, float8),
    sessions.format_duration(interval),
    sessions.date_range(text, text, timestamptz),
    sessions.session_stats_in(cstring),
    sessions.session_stats_out(sessions.session_stats),
    sessions.session_stats_recv(internal),
    sessions.session_stats_send(sessions.session_stats),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8),
    sessions.session_stats_final(sessions.session_stats),
    sessions.session_stats_combine(sessions.session_stats, sessions.session_stats),
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
  FROM PUBLIC;
REVOKE ALL ON FUNCTION
    sessions.session_stats_recv(internal),
    sessions.session_stats_send(sessions.session_stats),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8),
    sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8),
    sessions.session_stats_final(sessions.session_stats),
    sessions.session_stats_combine(sessions.session_stats, sessions.session_stats)
  FROM session_analytics_reader;
GRANT USAGE ON TYPE sessions.session_stats TO session_analytics_reader;

-- 30_powerflex ----------------------------------------------------------------

-- import_rejects: every reject names the namespace it was meant for, and
-- row-level security by namespace limits who sees it (the rows hold other
-- tenants' personal data). 0.1.0's import always set it; a row a writer
-- inserted by hand without one gets the import's rule: the row's site, else
-- 'powerflex'.
UPDATE sessions.import_rejects r
   SET namespace = COALESCE(NULLIF(pg_catalog.btrim(r.row_doc ->> 'site'), ''), 'powerflex')
 WHERE r.namespace IS NULL;
ALTER TABLE sessions.import_rejects ALTER COLUMN namespace SET NOT NULL;
COMMENT ON TABLE sessions.import_rejects IS
  'Rows an import skipped: when (the importing transaction''s start), source, 1-based position in the export, namespace, session id, reason and the row itself; row-level security by namespace';
COMMENT ON COLUMN sessions.import_rejects.namespace IS
  'The namespace the row was meant for (the site argument, else the row''s site, else powerflex); limits who sees the reject';
COMMENT ON COLUMN sessions.import_rejects.row_doc IS 'The rejected row as given; may hold personal data (user e-mail)';
ALTER TABLE sessions.import_rejects ENABLE ROW LEVEL SECURITY;
CREATE POLICY import_rejects_by_namespace ON sessions.import_rejects
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[]));

-- Row checks that keep one bad row from aborting an import; names qualified.
CREATE OR REPLACE FUNCTION sessions.powerflex_row_problem(r jsonb)
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
CREATE OR REPLACE FUNCTION sessions.import_powerflex(doc jsonb, site text DEFAULT NULL)
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

-- Privileges: nothing PUBLIC; the row check is the writers' (the importers').
REVOKE ALL ON FUNCTION sessions.powerflex_row_problem(jsonb), sessions.import_powerflex(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.powerflex_row_problem(jsonb) FROM session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.powerflex_row_problem(jsonb) TO session_analytics_writer;
REVOKE ALL ON FUNCTION sessions.user_pseudonym(text), sessions.anonymize_doc(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) FROM PUBLIC;

-- 40_telemetry ----------------------------------------------------------------

-- Links are checked at both ends: a role links only sessions it sees.
DROP POLICY telemetry_associate_by_namespace ON sessions.telemetry_associate;
CREATE POLICY telemetry_associate_by_namespace ON sessions.telemetry_associate
    USING ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR (namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
               AND associate_namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])))
    WITH CHECK ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
           OR (namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
               AND associate_namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])));

-- The checks of expire_row, telemetry_check_details and telemetry_check_size
-- are folded into their callers (dropped below); names qualified.
CREATE OR REPLACE FUNCTION sessions.telemetry_row(p_key uuid, p_data_source text, p_for_change boolean)
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
CREATE OR REPLACE FUNCTION sessions.telemetry_link(p_parent sessions.store, p_associate uuid)
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
CREATE OR REPLACE FUNCTION sessions.create_session(
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
CREATE OR REPLACE FUNCTION sessions.update_session_details(session_key uuid, details jsonb)
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
CREATE OR REPLACE FUNCTION sessions.update_session_identifier(session_key uuid, identifier text)
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
CREATE OR REPLACE FUNCTION sessions.end_session(
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
CREATE OR REPLACE FUNCTION sessions.session_info(session_key uuid)
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
CREATE OR REPLACE FUNCTION sessions.telemetry_daily(
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

REVOKE ALL ON FUNCTION sessions.telemetry_details_limit() FROM PUBLIC;

-- 41_lifecycle ----------------------------------------------------------------

-- References are unique within a type only (store_external_key): a global
-- unique index was an existence oracle across types.
DROP INDEX sessions.store_invoice_reference_idx;
CREATE INDEX store_invoice_reference_idx ON sessions.store (external_id) WHERE kind = 'invoice';

-- The signing key: 32 random bytes read by the C code (pg_hmac), where 0.1.0
-- kept a pre-padded 64-byte key for an HMAC built in SQL (lifecycle_mac,
-- which readers could call). The old key cannot sign the new way: the table
-- is made anew with a fresh key, so continuation tokens (22023) and state
-- documents (format 1: 0A000) issued under 0.1.0 are refused after the
-- update, as after sessions.rotate_lifecycle_key(); clients list again and
-- take new state documents (docs/upgrading.md). The key was never dumped:
-- nothing else is lost.
DROP FUNCTION sessions.lifecycle_mac(text, text);
DROP TABLE sessions.lifecycle_key;
CREATE TABLE sessions.lifecycle_key (
    id          int         NOT NULL DEFAULT 1 PRIMARY KEY CHECK (id OPERATOR(pg_catalog.=) 1),
    hmac_key    bytea       NOT NULL CHECK (pg_catalog.octet_length(hmac_key) OPERATOR(pg_catalog.=) 32),
    rotated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sessions.lifecycle_key IS
  'HMAC-SHA256 key of continuation tokens and state documents (one row); no grants, read by the extension''s C code only';
REVOKE ALL ON sessions.lifecycle_key FROM PUBLIC;

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

CREATE FUNCTION sessions.rotate_lifecycle_key()
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_rotate_key';
COMMENT ON FUNCTION sessions.rotate_lifecycle_key() IS
  'Replaces the database''s signing key with 32 random bytes; earlier continuation tokens and state documents are refused (extension owner only)';
REVOKE ALL ON FUNCTION sessions.rotate_lifecycle_key() FROM PUBLIC;
SELECT sessions.rotate_lifecycle_key();

-- Functions: expiry folded in, 21000 for a reference seen in two types, names qualified.
CREATE OR REPLACE FUNCTION sessions.invoice_row(p_reference text)
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
CREATE OR REPLACE FUNCTION sessions.invoice_reference(type text)
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
CREATE OR REPLACE FUNCTION sessions.open_session(
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
CREATE OR REPLACE FUNCTION sessions.set_session_status(reference text, code int, description text DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION sessions.count_session_item(reference text, ok boolean)
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
CREATE OR REPLACE FUNCTION sessions.session_status(reference text)
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
CREATE OR REPLACE FUNCTION sessions.terminate_session(reference text)
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
CREATE OR REPLACE FUNCTION sessions.set_session_secret(reference text, secret bytea)
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
CREATE OR REPLACE FUNCTION sessions.session_secret(reference text)
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
CREATE OR REPLACE FUNCTION sessions.claim_session(reference text, holder text, lease interval)
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
CREATE OR REPLACE FUNCTION sessions.expire_sessions()
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
CREATE OR REPLACE FUNCTION sessions.maintenance()
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

-- Continuation tokens and state documents signed in C; every field checked.
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

CREATE OR REPLACE FUNCTION sessions.invoice_list_page(
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
CREATE OR REPLACE FUNCTION sessions.session_state(reference text)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_session_state';
COMMENT ON FUNCTION sessions.session_state(text) IS
  'Signed, versioned (format_version 2) state document of an invoice-style session, for resume_session() in another process';
CREATE OR REPLACE FUNCTION sessions.resume_session(state jsonb)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'lifecycle_resume_session';
COMMENT ON FUNCTION sessions.resume_session(jsonb) IS
  'Validates a state document from session_state() and returns the live status; refuses forged, foreign, unknown, closed or expired sessions';

-- A secret is stored only for a namespace its owner sees.
DROP POLICY invoice_secret_owner ON sessions.invoice_secret;
CREATE POLICY invoice_secret_owner ON sessions.invoice_secret
    USING (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
                OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])))
    WITH CHECK (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND ('*'::text OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])
                OR namespace OPERATOR(pg_catalog.=) ANY ((SELECT sessions.visible_namespaces())::text[])));

-- Privileges: the status documentation functions are readers', no longer
-- PUBLIC's; expire_sessions() and maintenance() cross tenants and are the
-- owner's only.
REVOKE ALL ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  TO session_analytics_reader;
REVOKE ALL ON FUNCTION sessions.expire_sessions(), sessions.maintenance() FROM session_analytics_writer;
REVOKE ALL ON FUNCTION sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text)
  TO session_analytics_reader;

-- 60_events -------------------------------------------------------------------

-- events_head() per caller (RLS applies: a tenant learns only its own newest
-- event, never the global count); names qualified.
CREATE OR REPLACE FUNCTION sessions.events_head()
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
CREATE OR REPLACE FUNCTION sessions.events_since(after_seq bigint, namespace text DEFAULT NULL, max_rows int DEFAULT 1000)
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

-- Catch-up pages with a resume bound (events_page) and the coarse global
-- bound it uses (events_settled): new.
CREATE FUNCTION sessions.events_settled()
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (sessions.events_head() OPERATOR(pg_catalog./) 1000::pg_catalog.int8) OPERATOR(pg_catalog.*) 1000::pg_catalog.int8
$$;
COMMENT ON FUNCTION sessions.events_settled() IS
  'A seq, rounded down to a multiple of 1000, up to which no event of any namespace can still appear (the global bound, coarse)';
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

REVOKE ALL ON FUNCTION sessions.events_settled(), sessions.events_page(bigint, text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.events_settled(), sessions.events_page(bigint, text, int)
  TO session_analytics_reader;

-- The prune position is shared on purpose (every reader must know how far
-- the log was pruned): a read-only policy says so explicitly. Pruning is
-- the owner's, like maintenance().
ALTER TABLE sessions.event_prune_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_prune_state_shared ON sessions.event_prune_state FOR SELECT USING (true);
REVOKE ALL ON FUNCTION sessions.prune_events() FROM session_analytics_writer;

-- store_events() is the trigger's internal function: no role may execute it
-- (CREATE TRIGGER needs EXECUTE; firing the installed trigger does not).
REVOKE ALL ON FUNCTION sessions.store_events() FROM session_analytics_reader, session_analytics_writer;

-- Helpers folded into their callers ----------------------------------------------

DROP FUNCTION sessions.expire_row(sessions.store);
DROP FUNCTION sessions.expired_doc(text, jsonb);
DROP FUNCTION sessions.telemetry_check_details(jsonb, boolean);
DROP FUNCTION sessions.telemetry_check_size(jsonb);
DROP FUNCTION sessions.invoice_transition_ok(int, int);
DROP FUNCTION sessions.base64url(bytea);
DROP FUNCTION sessions.base64url_decode(text);
DROP FUNCTION sessions.state_payload(int, text, text, uuid, timestamptz, timestamptz);
