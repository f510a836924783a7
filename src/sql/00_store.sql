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
 *		The namespaces mapped to the current role or to a role it is a member
 *		of; '*' in the result means every namespace. Mappings naming a role
 *		that no longer exists are ignored.
 */
CREATE FUNCTION sessions.visible_namespaces()
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT r.namespace), '{}')
      FROM sessions.role_namespace r
      JOIN pg_catalog.pg_roles g ON g.rolname OPERATOR(pg_catalog.=) r.role_name
     WHERE pg_catalog.pg_has_role(g.oid, 'MEMBER');
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

REVOKE ALL ON sessions.store, sessions.role_namespace FROM PUBLIC;
GRANT USAGE ON SCHEMA sessions TO session_analytics_reader;
GRANT SELECT ON sessions.store, sessions.role_namespace TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.visible_namespaces() TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.store TO session_analytics_writer;
