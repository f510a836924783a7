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
