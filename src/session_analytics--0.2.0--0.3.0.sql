-- session_analytics 0.2.0 -> 0.3.0 (docs/upgrading.md).
-- Every change of the SQL API since 0.2.0 is made here as well as in the
-- master SQL under src/sql/; test/cli/upgrade.t proves a database updated
-- from 0.2.0 (and from 0.1.0, through 0.2.0) has the catalog of a fresh install.

\echo Use "ALTER EXTENSION session_analytics UPDATE" to load this file. \quit


-- 00_store -------------------------------------------------------------------

-- The install-hijack guard also guards this update: the functions
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

-- C symbols ------------------------------------------------------------------

-- Every SQL-callable C function is now bound to the symbol sa_ followed by
-- its SQL name (docs/development.md, "Conventions"). Each function is
-- re-created with its signature and attributes unchanged, so it keeps its
-- OID, owner, grants and comment, and the type and the aggregates that use
-- the support functions keep them; only prosrc changes. The old symbols stay
-- exported by src/compat_symbols.c for databases not yet updated.

CREATE OR REPLACE FUNCTION sessions.ocpi_validate(session jsonb, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.ocpi_validate_charging_preferences(preferences jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate_charging_preferences'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session jsonb, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_put'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION sessions.ocpi_patch(country_code text, party_id text, session_id text, patch jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_patch'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION sessions.session_stats_in(cstring) RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_out(sessions.session_stats) RETURNS cstring
AS 'MODULE_PATHNAME', 'sa_session_stats_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_recv(internal) RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_send(sessions.session_stats) RETURNS bytea
AS 'MODULE_PATHNAME', 'sa_session_stats_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_final(sessions.session_stats)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.session_stats_combine(sessions.session_stats, sessions.session_stats)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.days(sessions.session_stats)
RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint)
AS 'MODULE_PATHNAME', 'sa_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 366;
CREATE OR REPLACE FUNCTION sessions.totals(sessions.session_stats,
    OUT sessions bigint, OUT active bigint, OUT completed bigint, OUT empty bigint, OUT micro bigint,
    OUT normal bigint, OUT empty_pct float8, OUT micro_pct float8, OUT kwh float8,
    OUT avg_duration interval, OUT green bigint, OUT orange bigint, OUT red bigint,
    OUT combined bigint, OUT combined_pct float8)
RETURNS record
AS 'MODULE_PATHNAME', 'sa_totals'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION sessions.lifecycle_key_changed()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_lifecycle_key_changed';
CREATE OR REPLACE FUNCTION sessions.rotate_lifecycle_key()
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_rotate_lifecycle_key';
CREATE OR REPLACE FUNCTION sessions.continuation_token(q text, type text, session_key uuid)
RETURNS text
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_continuation_token';
CREATE OR REPLACE FUNCTION sessions.continuation_cursor(token text, q text, OUT c timestamptz, OUT k uuid)
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_continuation_cursor';
CREATE OR REPLACE FUNCTION sessions.session_state(reference text)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_session_state';
CREATE OR REPLACE FUNCTION sessions.resume_session(state jsonb)
RETURNS jsonb
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_resume_session';


-- 20_analytics (issue 11: one source for the defaults and the report filter) --

-- The defaults of the analytics functions read the settings through the
-- library (analytics_setting) instead of current_setting() with a literal
-- fallback, so the GUC definitions in C are the only place a default is
-- written. CREATE OR REPLACE keeps each function's grants and comment.
CREATE FUNCTION sessions.analytics_setting(name text)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_analytics_setting'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.analytics_setting(text) IS
  'Value in force of the setting session_analytics.<name> (micro_threshold, volts, good_amps, fair_amps): the defaults of the analytics functions';

CREATE OR REPLACE FUNCTION sessions.classify(
    kwh float8,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'))
RETURNS text
AS 'MODULE_PATHNAME', 'sa_classify'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION sessions.average_current_a(
    kwh float8, started_at timestamptz, ended_at timestamptz,
    volts float8 DEFAULT sessions.analytics_setting('volts'))
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_average_current_a'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION sessions.charge_rating(
    amps float8,
    good_a float8 DEFAULT sessions.analytics_setting('good_amps'),
    fair_a float8 DEFAULT sessions.analytics_setting('fair_amps'))
RETURNS text
AS 'MODULE_PATHNAME', 'sa_charge_rating'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION sessions.report_sessions(range tstzrange, site text DEFAULT NULL, include_active boolean DEFAULT false)
RETURNS SETOF sessions.store
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT s.*
      FROM sessions.store s
     WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
       AND s.started_at IS NOT NULL
       AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
            AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
            AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
       AND ($2 IS NULL OR s.site OPERATOR(pg_catalog.=) $2)
       AND ($3 OR s.ended_at IS NOT NULL);
END;
COMMENT ON FUNCTION sessions.report_sessions(tstzrange, text, boolean) IS
  'The store rows the reports cover: charging sessions (ocpi, powerflex) started in range (NULL = all time), at site (NULL = all), completed unless include_active';

CREATE OR REPLACE FUNCTION sessions.daily_report(
    range tstzrange,
    tz text DEFAULT 'UTC',
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
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
              FROM sessions.report_sessions($1, $4, $5) s)) d
$$;

CREATE OR REPLACE FUNCTION sessions.summary_report(
    range tstzrange,
    tz text DEFAULT 'UTC',
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
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
              FROM sessions.report_sessions($1, $4, $5) s) a
      LEFT JOIN LATERAL sessions.totals(a.st) t ON true
$$;

CREATE OR REPLACE FUNCTION sessions.user_report(
    user_ref text DEFAULT NULL,
    range tstzrange DEFAULT NULL,
    tz text DEFAULT 'UTC',
    volts float8 DEFAULT sessions.analytics_setting('volts'))
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
      FROM sessions.report_sessions($2, NULL, true) s
     WHERE $1 IS NULL OR s.user_ref OPERATOR(pg_catalog.=) $1
     ORDER BY s.user_ref NULLS FIRST, s.started_at DESC, s.session_key
$$;

REVOKE ALL ON FUNCTION sessions.analytics_setting(text), sessions.report_sessions(tstzrange, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.analytics_setting(text), sessions.report_sessions(tstzrange, text, boolean)
  TO session_analytics_reader;
