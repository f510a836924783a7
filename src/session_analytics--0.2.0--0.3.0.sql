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

-- visible_namespaces: a mapping applies through pg_has_role USAGE, as table

-- 10_ocpi ---------------------------------------------------------------------

-- The sender's JSON text: problems are listed in the order of its members
-- (jsonb keeps its own key order). Untyped literals resolve to these.
CREATE FUNCTION sessions.ocpi_validate(session text, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate(text, text) IS
  'ocpi_validate of the sender''s JSON text: problems are listed in the order its members were written';
COMMENT ON FUNCTION sessions.ocpi_validate(jsonb, text) IS
  'True when session is a valid OCPI Session of version (2.2.1 or 2.3.0); otherwise raises an error listing its problems';

CREATE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session text, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'ocpi_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put(text, text, text, text, text) IS
  'ocpi_put of the sender''s JSON text: problems are listed in the order its members were written';

-- ocpi_get gains with_preferences (a new signature: the old one goes).
DROP FUNCTION sessions.ocpi_get(text, text, text);
CREATE FUNCTION sessions.ocpi_get(country_code text, party_id text, session_id text,
                                  with_preferences boolean DEFAULT false)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT CASE WHEN ocpi_get.with_preferences AND p.preferences IS NOT NULL
                THEN s.doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('charging_preferences', p.preferences)
                ELSE s.doc END
      FROM sessions.store s
      LEFT JOIN sessions.ocpi_charging_preferences p
        ON p.session_key OPERATOR(pg_catalog.=) s.session_key AND p.namespace OPERATOR(pg_catalog.=) s.namespace
     WHERE s.namespace OPERATOR(pg_catalog.=)
               (pg_catalog.upper(ocpi_get.country_code COLLATE "C") OPERATOR(pg_catalog.||) '-'
                OPERATOR(pg_catalog.||) pg_catalog.upper(ocpi_get.party_id COLLATE "C"))
       AND s.kind OPERATOR(pg_catalog.=) 'ocpi'
       AND s.external_id OPERATOR(pg_catalog.=) pg_catalog.upper(ocpi_get.session_id COLLATE "C");
END;
COMMENT ON FUNCTION sessions.ocpi_get(text, text, text, boolean) IS
  'OCPI GET: the Session as stored, NULL when unknown (keys compare case-insensitively); with_preferences: with its stored charging_preferences';

REVOKE ALL ON FUNCTION sessions.ocpi_validate(text, text),
                       sessions.ocpi_put(text, text, text, text, text),
                       sessions.ocpi_get(text, text, text, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.ocpi_get(text, text, text, boolean),
                          sessions.ocpi_validate(text, text)
    TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.ocpi_put(text, text, text, text, text)
    TO session_analytics_writer;
