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

/*
 * new_session_key
 *		The default of store.session_key: a version 7 UUID (time first, then
 *		random bits), so the primary key grows at its right edge instead of
 *		at a random leaf (src/store/session_key.c). Keys made before 0.3.0
 *		are version 4; both kinds stay valid keys.
 */
CREATE FUNCTION sessions.new_session_key()
RETURNS uuid
LANGUAGE C VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sa_new_session_key';
COMMENT ON FUNCTION sessions.new_session_key() IS
  'A new session key: a version 7 UUID (RFC 9562: Unix milliseconds, their fraction, 62 random bits), increasing within a backend; the default of sessions.store.session_key';

CREATE TABLE sessions.store (
    session_key  uuid        NOT NULL DEFAULT sessions.new_session_key(),
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
COMMENT ON COLUMN sessions.store.session_key IS 'Database-allocated key (UUID; version 7 from 0.3.0 on, sessions.new_session_key())';
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
-- Only OCPI's list reads a last_updated window (kind = 'ocpi'), so only OCPI
-- rows are in that index: other kinds' writes maintain one index fewer.
CREATE INDEX store_ocpi_last_updated_idx ON sessions.store (last_updated) WHERE kind = 'ocpi';
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
 *		Mappings naming a role that no longer exists are ignored (to_regrole
 *		gives NULL). The map alone is read, no catalog join: on Citus the
 *		query goes to a placement of the reference table, where a tenant may
 *		not read pg_authid. citus.allow_nested_distributed_execution lets a
 *		worker's shard query (its policy) read the local placement of the
 *		map; it names no setting on a server without Citus.
 */
CREATE FUNCTION sessions.visible_namespaces()
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
SET citus.allow_nested_distributed_execution = on
BEGIN ATOMIC
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT r.namespace), '{}')
      FROM sessions.role_namespace r
     WHERE pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(r.role_name::pg_catalog.text)), 'USAGE');
END;
COMMENT ON FUNCTION sessions.visible_namespaces() IS
  'Namespaces the current role may see through sessions.role_namespace (''*'' = all)';

/*
 * namespace_visible
 *		The policies' test: namespace is among visible_namespaces() of the
 *		current role, or '*' is. The C function reads visible_namespaces()
 *		once per call site and statement execution (as the InitPlan of a
 *		sub-select would) and answers each row from that list; a policy
 *		calls it instead of a sub-select because Citus refuses sub-selects in
 *		the policies of distributed and reference tables (docs/scale-out.md).
 */
CREATE FUNCTION sessions.namespace_visible(namespace text)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sa_namespace_visible';
COMMENT ON FUNCTION sessions.namespace_visible(text) IS
  'True when the current role may see namespace (it or ''*'' is in sessions.visible_namespaces()); the row-level security test, visible_namespaces() read once per statement';

/*
 * role_mapped
 *		The policy of role_namespace: role_name is the current role or a role
 *		whose privileges it has (pg_has_role USAGE), the rule of
 *		visible_namespaces(). A function, not a sub-select in the policy, for
 *		the reason given at namespace_visible; no catalog join, for the reason
 *		given at visible_namespaces.
 */
CREATE FUNCTION sessions.role_mapped(role_name name)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN COALESCE(pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(role_mapped.role_name::pg_catalog.text)), 'USAGE'), false);
COMMENT ON FUNCTION sessions.role_mapped(name) IS
  'True when role_name is the current role or one whose privileges it has (pg_has_role USAGE); the row-level security test of sessions.role_namespace';

ALTER TABLE sessions.store ENABLE ROW LEVEL SECURITY;
-- visible_namespaces() is read once per statement (namespace_visible), not
-- once per row, so RLS costs almost nothing on large scans.
CREATE POLICY store_by_namespace ON sessions.store
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));

-- Each role sees only the mappings that apply to it (the same rule as
-- visible_namespaces(), so that function reads exactly its own rows), never
-- who else is mapped to what. Only the owner writes the map: it has no
-- INSERT/UPDATE/DELETE grant and no policy for them.
ALTER TABLE sessions.role_namespace ENABLE ROW LEVEL SECURITY;
CREATE POLICY role_namespace_own ON sessions.role_namespace FOR SELECT
    USING (sessions.role_mapped(role_name));

REVOKE ALL ON sessions.store, sessions.role_namespace FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.visible_namespaces(), sessions.namespace_visible(text), sessions.role_mapped(name) FROM PUBLIC;
GRANT USAGE ON SCHEMA sessions TO session_analytics_reader;
GRANT SELECT ON sessions.store, sessions.role_namespace TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.visible_namespaces(), sessions.namespace_visible(text), sessions.role_mapped(name) TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.store TO session_analytics_writer;
-- A default runs with the inserting role's privileges.
REVOKE ALL ON FUNCTION sessions.new_session_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.new_session_key() TO session_analytics_writer;
