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

-- Row-level security without sub-selects (Citus refuses them in the policies
-- of distributed and reference tables; docs/scale-out.md): every policy
-- calls namespace_visible(), which reads visible_namespaces() once per
-- statement as the sub-select's InitPlan did, or role_mapped().
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
CREATE OR REPLACE FUNCTION sessions.visible_namespaces()
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
SET citus.allow_nested_distributed_execution = on
BEGIN ATOMIC
    SELECT COALESCE(pg_catalog.array_agg(DISTINCT r.namespace), '{}')
      FROM sessions.role_namespace r
     WHERE pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(r.role_name::pg_catalog.text)), 'USAGE');
END;
REVOKE ALL ON FUNCTION sessions.namespace_visible(text), sessions.role_mapped(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.namespace_visible(text), sessions.role_mapped(name) TO session_analytics_reader;
ALTER POLICY store_by_namespace ON sessions.store
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));
ALTER POLICY role_namespace_own ON sessions.role_namespace
    USING (sessions.role_mapped(role_name));
ALTER POLICY ocpi_charging_preferences_by_namespace ON sessions.ocpi_charging_preferences
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));
ALTER POLICY import_rejects_by_namespace ON sessions.import_rejects
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));
ALTER POLICY telemetry_associate_by_namespace ON sessions.telemetry_associate
    USING (sessions.namespace_visible(namespace) AND sessions.namespace_visible(associate_namespace))
    WITH CHECK (sessions.namespace_visible(namespace) AND sessions.namespace_visible(associate_namespace));
ALTER POLICY invoice_secret_owner ON sessions.invoice_secret
    USING (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND sessions.namespace_visible(namespace))
    WITH CHECK (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND sessions.namespace_visible(namespace));
ALTER POLICY session_lease_by_namespace ON sessions.session_lease
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));
ALTER POLICY event_log_by_namespace ON sessions.event_log
    USING (sessions.namespace_visible(namespace));


-- 40_telemetry: the parent's namespace joins telemetry_associate's key, so
-- the table can be distributed by namespace with the store (docs/scale-out.md).
ALTER TABLE sessions.telemetry_associate DROP CONSTRAINT telemetry_associate_pkey,
    ADD CONSTRAINT telemetry_associate_pkey PRIMARY KEY (session_key, namespace, associate_key);

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

-- 41_lifecycle: the signing key on a Citus cluster (docs/lifecycle.md, "On a
-- Citus cluster"): node_databases binds it to every node's database; NULL
-- (one node) keeps every signature as it was.
ALTER TABLE sessions.lifecycle_key ADD COLUMN node_databases jsonb
    CHECK (pg_catalog.jsonb_typeof(node_databases) OPERATOR(pg_catalog.=) 'object');
COMMENT ON COLUMN sessions.lifecycle_key.node_databases IS
  'NULL on one node; on a Citus cluster {"<group id>": <database OID>} of every node, the databases the key signs for';
/*
 * lifecycle_key_nodes
 *		On a Citus coordinator: {"<group id>": <database OID>, ...} of this
 *		database on every node (this one's group is 0), asked of each node
 *		now. What rotate_lifecycle_key() and distribute() bind the signing
 *		key to on a cluster. Internal (owner only).
 */
CREATE FUNCTION sessions.lifecycle_key_nodes()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    nodes pg_catalog.jsonb := '{}';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'lifecycle_key_nodes: Citus is not loaded in this database' USING ERRCODE = '0A000';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'the signing key of a cluster changes on the coordinator only'
              USING ERRCODE = '55000',
                    HINT = 'Run SELECT sessions.rotate_lifecycle_key() on the coordinator.';
    END IF;
    FOR r IN SELECT * FROM pg_catalog.run_command_on_all_nodes(
                 $q$SELECT pg_catalog.jsonb_build_object(g.groupid::pg_catalog.text, d.oid::pg_catalog.int8)
                      FROM pg_catalog.pg_dist_local_group g, pg_catalog.pg_database d
                     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()$q$) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'could not read the database OID of node %: %', r.nodeid, r.result
                  USING ERRCODE = '08006',
                        HINT = 'Every node must be reachable to bind the signing key to the cluster''s databases.';
        END IF;
        nodes := nodes OPERATOR(pg_catalog.||) r.result::pg_catalog.jsonb;
    END LOOP;
    IF NOT (nodes OPERATOR(pg_catalog.?) '0') THEN
        RAISE EXCEPTION 'the cluster''s nodes did not include the coordinator' USING ERRCODE = '55000',
              HINT = 'Register the coordinator with citus_set_coordinator_host() (docs/scale-out.md).';
    END IF;
    RETURN nodes;
END
$$;
COMMENT ON FUNCTION sessions.lifecycle_key_nodes() IS
  'Citus coordinator: {"<group id>": <database OID>} of this database on every node, what the signing key is bound to on a cluster (internal)';
REVOKE ALL ON FUNCTION sessions.lifecycle_key_nodes() FROM PUBLIC;

COMMENT ON FUNCTION sessions.rotate_lifecycle_key() IS
  'Replaces the database''s signing key with 32 random bytes (on a Citus cluster: on every node, run on the coordinator); earlier continuation tokens and state documents are refused (extension owner only)';
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

-- visible_namespaces: a mapping applies through pg_has_role USAGE, as table


-- 40_telemetry, 41_lifecycle: errors a switching user met came from PostgreSQL
-- (docs/telemetry.md "Keys as text, offsets in seconds", docs/lifecycle.md
-- "One statement") -------------------------------------------------------------

-- Reads by key take a fresh snapshot: a session created or opened earlier
-- in the same statement is found.
ALTER FUNCTION sessions.associates(uuid) VOLATILE;
ALTER FUNCTION sessions.parents(uuid) VOLATILE;
ALTER FUNCTION sessions.session_info(uuid) VOLATILE;
ALTER FUNCTION sessions.session_status(text) VOLATILE;
ALTER FUNCTION sessions.session_state(text) VOLATILE;
ALTER FUNCTION sessions.resume_session(jsonb) VOLATILE;
ALTER FUNCTION sessions.session_secret(text) VOLATILE;

-- type defaults to 'online' (ksef2's QuerySessionsList(session_type=ONLINE)),
-- so list_sessions() with no argument lists online sessions.
CREATE OR REPLACE FUNCTION sessions.list_sessions(
    type text DEFAULT 'online',
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

-- 10_ocpi ---------------------------------------------------------------------

-- The sender's JSON text: problems are listed in the order of its members
-- (jsonb keeps its own key order). Untyped literals resolve to these.
CREATE FUNCTION sessions.ocpi_validate(session text, version text DEFAULT '2.2.1')
RETURNS boolean
AS 'MODULE_PATHNAME', 'sa_ocpi_validate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.ocpi_validate(text, text) IS
  'ocpi_validate of the sender''s JSON text: problems are listed in the order its members were written';
COMMENT ON FUNCTION sessions.ocpi_validate(jsonb, text) IS
  'True when session is a valid OCPI Session of version (2.2.1 or 2.3.0); otherwise raises an error listing its problems';

CREATE FUNCTION sessions.ocpi_put(country_code text, party_id text, session_id text,
                                  session text, version text DEFAULT '2.2.1')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sa_ocpi_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put(text, text, text, text, text) IS
  'ocpi_put of the sender''s JSON text: problems are listed in the order its members were written';

-- ocpi_get gains with_preferences (a new signature: the old one goes).
DROP FUNCTION sessions.ocpi_get(text, text, text);
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

REVOKE ALL ON FUNCTION sessions.ocpi_validate(text, text),
                       sessions.ocpi_put(text, text, text, text, text),
                       sessions.ocpi_get(text, text, text, boolean)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.ocpi_get(text, text, text, boolean),
                          sessions.ocpi_validate(text, text)
    TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.ocpi_put(text, text, text, text, text)
    TO session_analytics_writer;

-- daily_chart_svg draws two panels (empty above, micro below), each with its
-- own scale: same signature, new description.
COMMENT ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) IS
  'SVG line chart of the daily empty and micro percentages of a session_stats summary: two panels (empty above, micro below), each with its own percentage scale and grid, on one dated x axis; markers, legend, title';

-- 05_sites: sites and their time zones (issue 12) ----------------------------

/*
 * check_time_zone
 *		tz when PostgreSQL knows it as a time zone, the one rule of every
 *		zone argument, --tz and a site's zone: what AT TIME ZONE accepts (a
 *		name of pg_timezone_names, an abbreviation of pg_timezone_abbrevs, a
 *		POSIX zone). Otherwise 22023 naming argument. NULL stays NULL.
 *		PARALLEL UNSAFE: its exception block is a subtransaction.
 */
CREATE FUNCTION sessions.check_time_zone(tz text, argument text DEFAULT 'tz')
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    IF tz IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM pg_catalog.timezone(tz, pg_catalog.now());
    EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
        RAISE EXCEPTION '% "%" is not a time zone PostgreSQL knows', COALESCE(argument, 'tz'), pg_catalog.left(tz, 100)
              USING ERRCODE = '22023',
                    HINT = 'Use a name of pg_timezone_names (e.g. America/Los_Angeles), an abbreviation of pg_timezone_abbrevs (a fixed offset, e.g. PST) or a POSIX zone (e.g. PST8PDT).';
    END;
    RETURN tz;
END
$$;
COMMENT ON FUNCTION sessions.check_time_zone(text, text) IS
  'tz unchanged when PostgreSQL knows it as a time zone (what AT TIME ZONE accepts: pg_timezone_names, pg_timezone_abbrevs, POSIX); otherwise error 22023 naming argument';

CREATE TABLE sessions.site (
    namespace    text        NOT NULL,
    time_zone    text,
    display_name text,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT site_pkey PRIMARY KEY (namespace),
    CONSTRAINT site_namespace_check CHECK (namespace <> '' AND pg_catalog.octet_length(namespace) <= 1000),
    CONSTRAINT site_time_zone_check CHECK (time_zone <> ''),
    CONSTRAINT site_display_name_check CHECK (display_name <> '')
);
COMMENT ON TABLE sessions.site IS
  'Sites: a namespace of the store with the time zone of its local days (the reports'' default zone) and a display name; row-level security by namespace';
COMMENT ON COLUMN sessions.site.namespace IS
  'The store namespace: a PowerFlex site, an OCPI party as CC-PID, a telemetry data source';
COMMENT ON COLUMN sessions.site.time_zone IS
  'Zone of the site''s local days (checked by sessions.check_time_zone); NULL: not known yet, reports use UTC';
COMMENT ON COLUMN sessions.site.display_name IS 'Name to show, e.g. the PowerFlex site as exported';
SELECT pg_catalog.pg_extension_config_dump('sessions.site', '');

/*
 * site_check
 *		Trigger of sessions.site: a zone written by any path (set_site, the
 *		imports, a plain INSERT or UPDATE) is one PostgreSQL knows.
 */
CREATE FUNCTION sessions.site_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    PERFORM sessions.check_time_zone(NEW.time_zone, 'time_zone');
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION sessions.site_check() IS
  'Trigger of sessions.site: refuses a time_zone PostgreSQL does not know (22023) and stamps updated_at';
CREATE TRIGGER site_check BEFORE INSERT OR UPDATE ON sessions.site
    FOR EACH ROW EXECUTE FUNCTION sessions.site_check();

-- The store's rule: a role sees and writes the sites of its namespaces.
ALTER TABLE sessions.site ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_by_namespace ON sessions.site
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));

/*
 * site_writable
 *		Refuses, with the extension's own error, a namespace the caller is
 *		not mapped to (RLS would refuse it too, with a bare policy message).
 */
CREATE FUNCTION sessions.site_writable(namespace text, fn text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    ns pg_catalog.text[] := sessions.visible_namespaces();
BEGIN
    -- Roles RLS does not apply to (superusers, BYPASSRLS, the owner) pass.
    IF pg_catalog.row_security_active('sessions.site'::pg_catalog.regclass)
       AND NOT ('*' = ANY (ns) OR site_writable.namespace = ANY (ns)) THEN
        RAISE EXCEPTION '%: namespace "%" is not mapped to role %', fn, pg_catalog.left(site_writable.namespace, 200), CURRENT_USER
              USING ERRCODE = '42501',
                    DETAIL = 'A role writes the sites of the namespaces sessions.role_namespace maps to it.',
                    HINT = 'Use one of your namespaces (SELECT sessions.visible_namespaces()), or ask the owner to map this one to your role.';
    END IF;
END
$$;
COMMENT ON FUNCTION sessions.site_writable(text, text) IS
  'Raises 42501 naming the function when the current role is not mapped to namespace (internal)';

/*
 * set_site
 *		Records a site by hand: its zone (checked) and display name. NULL
 *		keeps the stored value, '' clears it. Runs as the caller: RLS and
 *		the table's grants apply.
 */
CREATE FUNCTION sessions.set_site(namespace text, time_zone text DEFAULT NULL, display_name text DEFAULT NULL)
RETURNS sessions.site
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.site;
BEGIN
    IF set_site.namespace IS NULL OR pg_catalog.btrim(set_site.namespace) = '' THEN
        RAISE EXCEPTION 'set_site: namespace must not be empty'
              USING ERRCODE = '22023', HINT = 'Pass the site as the store names it (sessions.store.namespace), e.g. a PowerFlex site or an OCPI party NL-TNM.';
    END IF;
    IF pg_catalog.octet_length(set_site.namespace) > 1000 THEN
        RAISE EXCEPTION 'set_site: namespace is longer than 1000 bytes'
              USING ERRCODE = '22023', HINT = 'Namespaces are limited to 1000 bytes (UTF-8).';
    END IF;
    PERFORM sessions.check_time_zone(NULLIF(set_site.time_zone, ''), 'set_site: time_zone');
    PERFORM sessions.site_writable(set_site.namespace, 'set_site');
    INSERT INTO sessions.site AS s (namespace, time_zone, display_name)
    VALUES (set_site.namespace, NULLIF(set_site.time_zone, ''), NULLIF(set_site.display_name, ''))
    ON CONFLICT ON CONSTRAINT site_pkey DO UPDATE
       SET time_zone = CASE WHEN set_site.time_zone IS NULL THEN s.time_zone ELSE EXCLUDED.time_zone END,
           display_name = CASE WHEN set_site.display_name IS NULL THEN s.display_name ELSE EXCLUDED.display_name END
    RETURNING s.* INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.set_site(text, text, text) IS
  'Records a site (namespace) with its time zone and display name; NULL keeps a stored value, '''' clears it; an unknown zone is refused (22023)';

/*
 * ocpi_put_location
 *		An OCPI Location (Locations module, PUT) recorded as the site of its
 *		party: namespace upper(country_code)-upper(party_id), as the Sessions
 *		module stores sessions, zone = the Location's time_zone. A party's
 *		locations share its site, so the last Location put sets its zone (a
 *		NOTICE says when that changes the zone). The display name is kept;
 *		a new site takes the Location's operator name, else none.
 */
CREATE FUNCTION sessions.ocpi_put_location(country_code text, party_id text, location jsonb)
RETURNS sessions.site
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    ns    pg_catalog.text;
    k     pg_catalog.text;
    zone  pg_catalog.text;
    old   pg_catalog.text;
    r     sessions.site;
BEGIN
    IF country_code IS NULL OR country_code !~ '^[A-Za-z]{2}$' THEN
        RAISE EXCEPTION 'ocpi_put_location: country_code must be 2 letters (ISO 3166-1 alpha-2)'
              USING ERRCODE = '22023', DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).';
    END IF;
    IF party_id IS NULL OR party_id !~ '^[A-Za-z0-9]{3}$' THEN
        RAISE EXCEPTION 'ocpi_put_location: party_id must be 3 letters or digits (ISO 15118)'
              USING ERRCODE = '22023', DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).';
    END IF;
    IF pg_catalog.jsonb_typeof(location) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'ocpi_put_location: location must be a JSON object (an OCPI Location)'
              USING ERRCODE = '22023', DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).';
    END IF;
    IF pg_catalog.jsonb_typeof(location -> 'time_zone') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'ocpi_put_location: location.time_zone is required'
              USING ERRCODE = '22023', DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).',
                    HINT = 'An OCPI Location carries its IANA zone in time_zone, e.g. "Europe/Oslo".';
    END IF;
    FOREACH k IN ARRAY ARRAY['country_code', 'party_id'] LOOP
        IF location ? k AND pg_catalog.upper(location ->> k)
                            IS DISTINCT FROM pg_catalog.upper(CASE k WHEN 'country_code' THEN country_code ELSE party_id END) THEN
            RAISE EXCEPTION 'ocpi_put_location: location.% does not match the % argument', k, k
                  USING ERRCODE = '22023', DETAIL = 'OCPI status code 2001 (Invalid or missing parameters).',
                        HINT = 'The Location''s country_code and party_id are those of the URL it is put to.';
        END IF;
    END LOOP;
    zone := sessions.check_time_zone(location ->> 'time_zone', 'ocpi_put_location: location.time_zone');
    ns := pg_catalog.upper(country_code COLLATE "C") OPERATOR(pg_catalog.||) '-' OPERATOR(pg_catalog.||) pg_catalog.upper(party_id COLLATE "C");
    PERFORM sessions.site_writable(ns, 'ocpi_put_location');
    SELECT s.time_zone INTO old FROM sessions.site s WHERE s.namespace = ns;
    INSERT INTO sessions.site AS s (namespace, time_zone, display_name)
    VALUES (ns, zone, NULLIF(CASE WHEN pg_catalog.jsonb_typeof(location #> '{operator,name}') = 'string'
                                  THEN location #>> '{operator,name}' END, ''))
    ON CONFLICT ON CONSTRAINT site_pkey DO UPDATE SET time_zone = EXCLUDED.time_zone
    RETURNING s.* INTO r;
    IF old IS DISTINCT FROM zone AND old IS NOT NULL THEN
        RAISE NOTICE 'ocpi_put_location: the time zone of site % changes from % to %', ns, old, zone
              USING DETAIL = pg_catalog.format('Location %s sets it; the locations of a party share one site.', location ->> 'id');
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.ocpi_put_location(text, text, jsonb) IS
  'Records an OCPI Location''s time_zone as the zone of its party''s site (namespace CC-PID, as OCPI sessions are stored); the last Location put wins';

REVOKE ALL ON sessions.site FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.check_time_zone(text, text), sessions.site_check(), sessions.site_writable(text, text),
    sessions.set_site(text, text, text), sessions.ocpi_put_location(text, text, jsonb) FROM PUBLIC;
GRANT SELECT ON sessions.site TO session_analytics_reader;
GRANT INSERT, UPDATE ON sessions.site TO session_analytics_writer;
GRANT EXECUTE ON FUNCTION sessions.check_time_zone(text, text) TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.site_writable(text, text), sessions.set_site(text, text, text),
    sessions.ocpi_put_location(text, text, jsonb) TO session_analytics_writer;

-- 20_analytics: the reports' zone defaults to sessions.report_time_zone;
-- daily_report and summary_report take several sites (a new last argument,
-- so the old signatures go).

/*
 * report_time_zone
 *		The zone of a report's local days and times, resolved once by the
 *		caller and passed to the aggregates as a value (a Citus worker sees
 *		no session setting): tz when given (checked where it is used); else the session's
 *		TimeZone when it was set for this session, role or database (SET,
 *		set_config, PGTZ or options at connect, ALTER ROLE/DATABASE ... SET;
 *		not the server's default from postgresql.conf); else the zone the
 *		report's sites share (the namespaces of its sessions, in
 *		sessions.site); else UTC. Sites of different zones, or some without
 *		one, give UTC, source 'mixed' and a NOTICE naming them.
 */
CREATE FUNCTION sessions.report_time_zone(
    range tstzrange DEFAULT NULL,
    site text DEFAULT NULL,
    sites text[] DEFAULT NULL,
    user_ref text DEFAULT NULL,
    tz text DEFAULT NULL,
    OUT time_zone text, OUT source text, OUT site_zones text)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    src      pg_catalog.text;
    n_sites  pg_catalog.int8;
    n_zones  pg_catalog.int8;
    n_unset  pg_catalog.int8;
    one_zone pg_catalog.text;
BEGIN
    -- A zone given is checked where it is used (the aggregate, timezone()):
    -- check_time_zone's exception block would make this PARALLEL UNSAFE,
    -- and with it every report's plan.
    IF tz IS NOT NULL THEN
        time_zone := tz;
        source := 'argument';
        RETURN;
    END IF;
    SELECT g.source INTO src FROM pg_catalog.pg_settings g WHERE g.name = 'TimeZone';
    IF src IN ('session', 'client', 'user', 'database', 'database user') THEN
        time_zone := pg_catalog.current_setting('TimeZone');
        source := 'TimeZone';
        RETURN;
    END IF;
    SELECT pg_catalog.count(*), pg_catalog.count(DISTINCT z.time_zone), pg_catalog.count(*) FILTER (WHERE z.time_zone IS NULL),
           pg_catalog.min(z.time_zone),
           pg_catalog.string_agg(pg_catalog.format('%s (%s)', n.namespace, COALESCE(z.time_zone, 'no zone')), ', ' ORDER BY n.namespace)
      INTO n_sites, n_zones, n_unset, one_zone, site_zones
      FROM (SELECT DISTINCT s.namespace
              FROM sessions.store s
             WHERE s.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND s.started_at IS NOT NULL
               -- the bounds again, as the reports write them: a btree on started_at serves them, not @>
               AND (report_time_zone.range IS NULL OR (report_time_zone.range @> s.started_at
                    AND s.started_at >= COALESCE(pg_catalog.lower(report_time_zone.range), '-infinity'::pg_catalog.timestamptz)
                    AND s.started_at <= COALESCE(pg_catalog.upper(report_time_zone.range), 'infinity'::pg_catalog.timestamptz)))
               AND (report_time_zone.site IS NULL OR s.site = report_time_zone.site)
               AND (report_time_zone.sites IS NULL OR s.site = ANY (report_time_zone.sites))
               AND (report_time_zone.user_ref IS NULL OR s.user_ref = report_time_zone.user_ref)) n
      LEFT JOIN sessions.site z ON z.namespace = n.namespace;
    IF n_zones = 1 AND n_unset = 0 THEN
        time_zone := one_zone;
        source := 'site';
    ELSIF n_zones = 0 THEN
        time_zone := 'UTC';
        source := 'default';
    ELSE
        time_zone := 'UTC';
        source := 'mixed';
        RAISE NOTICE 'the sites of this report do not share one time zone: days are UTC days'
              USING DETAIL = pg_catalog.format('Sites: %s.', pg_catalog.left(site_zones, 2000)),
                    HINT = 'Pass a zone (tz), report one site at a time, or give each site its zone with sessions.set_site().';
    END IF;
END
$$;
COMMENT ON FUNCTION sessions.report_time_zone(tstzrange, text, text[], text, text) IS
  'Zone of a report (time_zone) and why (source: argument, TimeZone set for the session/role/database, site, default = UTC, mixed = sites of different zones, UTC); site_zones lists the report''s sites and zones';

REVOKE ALL ON FUNCTION sessions.report_time_zone(tstzrange, text, text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.report_time_zone(tstzrange, text, text[], text, text) TO session_analytics_reader;

DROP FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean);
DROP FUNCTION sessions.summary_report(tstzrange, text, float8, text, boolean);

CREATE FUNCTION sessions.daily_report(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.micro_threshold', true), '1.0')::pg_catalog.float8,
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT d.*
      FROM sessions.days((
            SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh,
                                              (SELECT z.time_zone FROM sessions.report_time_zone($1, $4, $6, NULL, $2) z), $3)
              FROM sessions.store s
             WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND s.started_at IS NOT NULL
               AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
                    AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
                    AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
               AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) $4)
               AND ($6 IS NULL OR s.site OPERATOR(pg_catalog.=) ANY ($6))
               AND ($5 OR s.ended_at IS NOT NULL))) d
$$;
COMMENT ON FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean, text[]) IS
  'Charging sessions (ocpi, powerflex) of the store started in range (at site, or at one of sites), per local day: empty/micro/normal, kWh, durations, ratings; days in tz, else sessions.report_time_zone (the session''s TimeZone, the sites'' zone, UTC)';

CREATE FUNCTION sessions.summary_report(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT COALESCE(pg_catalog.current_setting('session_analytics.micro_threshold', true), '1.0')::pg_catalog.float8,
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
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
      FROM (SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh,
                                              (SELECT z.time_zone FROM sessions.report_time_zone($1, $4, $6, NULL, $2) z), $3) AS st
              FROM sessions.store s
             WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND s.started_at IS NOT NULL
               AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
                    AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
                    AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
               AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) $4)
               AND ($6 IS NULL OR s.site OPERATOR(pg_catalog.=) ANY ($6))
               AND ($5 OR s.ended_at IS NOT NULL)) a
      LEFT JOIN LATERAL sessions.totals(a.st) t ON true
$$;
COMMENT ON FUNCTION sessions.summary_report(tstzrange, text, float8, text, boolean, text[]) IS
  'Charging sessions (ocpi, powerflex) of the store started in range (at site, or at one of sites) in one row: SESHIS combined summary; zone as daily_report';

CREATE OR REPLACE FUNCTION sessions.user_report(
    user_ref text DEFAULT NULL,
    range tstzrange DEFAULT NULL,
    tz text DEFAULT NULL,
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
           pg_catalog.timezone(z.time_zone, s.started_at),
           pg_catalog.timezone(z.time_zone, s.ended_at),
           sessions.format_duration(s.ended_at OPERATOR(pg_catalog.-) s.started_at),
           s.ended_at OPERATOR(pg_catalog.-) s.started_at,
           s.kwh,
           sessions.average_power_w(s.kwh, s.started_at, s.ended_at),
           sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4),
           sessions.charge_rating(sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4))
      FROM sessions.store s
     CROSS JOIN sessions.report_time_zone($2, NULL, NULL, $1, $3) z
     WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
       AND s.started_at IS NOT NULL
       AND ($1 IS NULL OR s.user_ref OPERATOR(pg_catalog.=) $1)
       AND ($2 IS NULL OR ($2 OPERATOR(pg_catalog.@>) s.started_at
            AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($2), '-infinity'::pg_catalog.timestamptz)
            AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($2), 'infinity'::pg_catalog.timestamptz)))
     ORDER BY s.user_ref NULLS FIRST, s.started_at DESC, s.session_key
$$;
COMMENT ON FUNCTION sessions.user_report(text, tstzrange, text, float8) IS
  'Charging sessions (ocpi, powerflex) per user (NULL user first), newest first: local start/end (tz, else sessions.report_time_zone), duration, kWh, average W and A, rating';

REVOKE ALL ON FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_report(tstzrange, text, float8, text, boolean, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_report(tstzrange, text, float8, text, boolean, text[]) TO session_analytics_reader;

-- 30_powerflex: the import records each namespace it stores as a site, and
-- takes its rows checked and typed from powerflex_rows (issue 14, at the end).

-- (Its body is replaced once, at the end of this script, by the final one.)
COMMENT ON FUNCTION sessions.import_powerflex(jsonb, text) IS
  'Imports a PowerFlex sessions export ({"rows": [...]} or [...]) into sessions.store, idempotent on session_id; returns imported, updated and skipped counts (reasons by NOTICE and in sessions.import_rejects, rows numbered from "offset" or the page)';


-- 20_analytics: one source for the defaults and the reports' selection
-- (issue 11) -------------------------------------------------------------------

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

-- Which store rows a report covers, written once: report_time_zone and the
-- three reports read it (same plans: the planner inlines it).
CREATE FUNCTION sessions.report_sessions(
    range tstzrange,
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
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
       AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) ANY ($4))
       AND ($3 OR s.ended_at IS NOT NULL);
END;
COMMENT ON FUNCTION sessions.report_sessions(tstzrange, text, boolean, text[]) IS
  'The store rows the reports cover: charging sessions (ocpi, powerflex) started in range (NULL = all time), at site and at one of sites (NULL = all; exact names), completed unless include_active';

CREATE OR REPLACE FUNCTION sessions.report_time_zone(
    range tstzrange DEFAULT NULL,
    site text DEFAULT NULL,
    sites text[] DEFAULT NULL,
    user_ref text DEFAULT NULL,
    tz text DEFAULT NULL,
    OUT time_zone text, OUT source text, OUT site_zones text)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    src      pg_catalog.text;
    n_sites  pg_catalog.int8;
    n_zones  pg_catalog.int8;
    n_unset  pg_catalog.int8;
    one_zone pg_catalog.text;
    mlo      pg_catalog.date;
    mhi      pg_catalog.date;
    cand     record;
    names    pg_catalog.text[] := '{}';
BEGIN
    -- A zone given is checked where it is used (the aggregate, timezone()):
    -- check_time_zone's exception block would make this PARALLEL UNSAFE,
    -- and with it every report's plan.
    IF tz IS NOT NULL THEN
        time_zone := tz;
        source := 'argument';
        RETURN;
    END IF;
    SELECT g.source INTO src FROM pg_catalog.pg_settings g WHERE g.name = 'TimeZone';
    IF src IN ('session', 'client', 'user', 'database', 'database user') THEN
        time_zone := pg_catalog.current_setting('TimeZone');
        source := 'TimeZone';
        RETURN;
    END IF;
    -- No site the caller sees has a zone: UTC, without reading the
    -- sessions (the common case costs a probe of the small site table).
    IF NOT EXISTS (SELECT 1 FROM sessions.site z WHERE z.time_zone IS NOT NULL) THEN
        time_zone := 'UTC';
        source := 'default';
        RETURN;
    END IF;
    IF report_time_zone.user_ref IS NULL
       AND pg_catalog.lower(COALESCE(pg_catalog.current_setting('session_analytics.report_summaries', true), 'on'))
           NOT IN ('off', 'false', 'no', '0')
       AND COALESCE((SELECT c.enabled FROM sessions.summary_config c WHERE c.id), true) THEN
        -- The report's namespaces without reading its sessions: the live
        -- summaries hold every session while they are on. Candidates are
        -- the namespaces with sessions within two days of the range (a
        -- local day is within a day of the UTC one), as report_path finds
        -- them. A candidate with a session on a local day wholly inside the
        -- range is one of the report's; any other can have the report's
        -- sessions only on the range's first or last local day, so an
        -- index probe of two days at each end decides it exactly.
        IF report_time_zone.range IS NOT NULL AND NOT pg_catalog.lower_inf(report_time_zone.range) THEN
            mlo := pg_catalog.timezone('UTC', pg_catalog.lower(report_time_zone.range))::pg_catalog.date OPERATOR(pg_catalog.-) 2;
        END IF;
        IF report_time_zone.range IS NOT NULL AND NOT pg_catalog.upper_inf(report_time_zone.range) THEN
            mhi := pg_catalog.timezone('UTC', pg_catalog.upper(report_time_zone.range))::pg_catalog.date OPERATOR(pg_catalog.+) 3;
        END IF;
        IF sessions.summary_distributed() THEN
            -- On a Citus cluster: Citus plans no subquery in HAVING that
            -- refers to the outer query, so the candidates are read first
            -- (partial aggregates on the workers) and the end probes run
            -- per candidate that has no day inside the range.
            FOR cand IN
                SELECT c.namespace, pg_catalog.bool_or(c.inside) AS inside
                  FROM (SELECT d.namespace,
                                     pg_catalog.bool_or(report_time_zone.range IS NULL
                                         OR (report_time_zone.range @> pg_catalog.timezone(d.time_zone, d.day::pg_catalog.timestamp)
                                             AND report_time_zone.range @> (pg_catalog.timezone(d.time_zone, (d.day OPERATOR(pg_catalog.+) 1)::pg_catalog.timestamp)
                                                                            OPERATOR(pg_catalog.-) '1 microsecond'::pg_catalog.interval))) AS inside
                                FROM sessions.summary_delta d
                               WHERE d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
                                 AND (mlo IS NULL OR d.day >= mlo) AND (mhi IS NULL OR d.day < mhi)
                                 AND (report_time_zone.site IS NULL OR d.site = report_time_zone.site)
                                 AND (report_time_zone.sites IS NULL OR d.site = ANY (report_time_zone.sites))
                               GROUP BY d.namespace, d.kind, d.site, d.day, d.time_zone
                              HAVING pg_catalog.sum(d.active OPERATOR(pg_catalog.+) d.completed) <> 0) c
                 GROUP BY c.namespace
            LOOP
                IF cand.inside
                   OR (NOT pg_catalog.lower_inf(report_time_zone.range) AND EXISTS (SELECT 1 FROM sessions.report_sessions(
                              report_time_zone.range OPERATOR(pg_catalog.*) pg_catalog.tstzrange(
                                  pg_catalog.lower(report_time_zone.range),
                                  pg_catalog.lower(report_time_zone.range) OPERATOR(pg_catalog.+) '2 days'::pg_catalog.interval),
                              report_time_zone.site, true, report_time_zone.sites) s
                           WHERE s.namespace = cand.namespace))
                   OR (NOT pg_catalog.upper_inf(report_time_zone.range) AND EXISTS (SELECT 1 FROM sessions.report_sessions(
                              report_time_zone.range OPERATOR(pg_catalog.*) pg_catalog.tstzrange(
                                  pg_catalog.upper(report_time_zone.range) OPERATOR(pg_catalog.-) '2 days'::pg_catalog.interval,
                                  pg_catalog.upper(report_time_zone.range), '(]'),
                              report_time_zone.site, true, report_time_zone.sites) s
                           WHERE s.namespace = cand.namespace)) THEN
                    names := names OPERATOR(pg_catalog.||) cand.namespace;
                END IF;
            END LOOP;
            SELECT pg_catalog.count(*), pg_catalog.count(DISTINCT z.time_zone), pg_catalog.count(*) FILTER (WHERE z.time_zone IS NULL),
                   pg_catalog.min(z.time_zone),
                   pg_catalog.string_agg(pg_catalog.format('%s (%s)', n.namespace, COALESCE(z.time_zone, 'no zone')), ', ' ORDER BY n.namespace)
              INTO n_sites, n_zones, n_unset, one_zone, site_zones
              FROM pg_catalog.unnest(names) AS n(namespace)
              LEFT JOIN sessions.site z ON z.namespace = n.namespace;
        ELSE
            SELECT pg_catalog.count(*), pg_catalog.count(DISTINCT z.time_zone), pg_catalog.count(*) FILTER (WHERE z.time_zone IS NULL),
                   pg_catalog.min(z.time_zone),
                   pg_catalog.string_agg(pg_catalog.format('%s (%s)', n.namespace, COALESCE(z.time_zone, 'no zone')), ', ' ORDER BY n.namespace)
              INTO n_sites, n_zones, n_unset, one_zone, site_zones
              FROM (SELECT c.namespace
                      FROM (SELECT d.namespace,
                                   pg_catalog.bool_or(report_time_zone.range IS NULL
                                       OR (report_time_zone.range @> pg_catalog.timezone(d.time_zone, d.day::pg_catalog.timestamp)
                                           AND report_time_zone.range @> (pg_catalog.timezone(d.time_zone, (d.day OPERATOR(pg_catalog.+) 1)::pg_catalog.timestamp)
                                                                          OPERATOR(pg_catalog.-) '1 microsecond'::pg_catalog.interval))) AS inside
                              FROM sessions.summary_delta d
                             WHERE d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
                               AND (mlo IS NULL OR d.day >= mlo) AND (mhi IS NULL OR d.day < mhi)
                               AND (report_time_zone.site IS NULL OR d.site = report_time_zone.site)
                               AND (report_time_zone.sites IS NULL OR d.site = ANY (report_time_zone.sites))
                             GROUP BY d.namespace, d.kind, d.site, d.day, d.time_zone
                            HAVING pg_catalog.sum(d.active OPERATOR(pg_catalog.+) d.completed) <> 0) c
                     GROUP BY c.namespace
                    HAVING pg_catalog.bool_or(c.inside)
                        OR (NOT pg_catalog.lower_inf(report_time_zone.range) AND EXISTS (SELECT 1 FROM sessions.report_sessions(
                                       report_time_zone.range OPERATOR(pg_catalog.*) pg_catalog.tstzrange(
                                           pg_catalog.lower(report_time_zone.range),
                                           pg_catalog.lower(report_time_zone.range) OPERATOR(pg_catalog.+) '2 days'::pg_catalog.interval),
                                       report_time_zone.site, true, report_time_zone.sites) s
                                    WHERE s.namespace = c.namespace))
                        OR (NOT pg_catalog.upper_inf(report_time_zone.range) AND EXISTS (SELECT 1 FROM sessions.report_sessions(
                                       report_time_zone.range OPERATOR(pg_catalog.*) pg_catalog.tstzrange(
                                           pg_catalog.upper(report_time_zone.range) OPERATOR(pg_catalog.-) '2 days'::pg_catalog.interval,
                                           pg_catalog.upper(report_time_zone.range), '(]'),
                                       report_time_zone.site, true, report_time_zone.sites) s
                                    WHERE s.namespace = c.namespace))) n
              LEFT JOIN sessions.site z ON z.namespace = n.namespace;
        END IF;
    ELSE
        SELECT pg_catalog.count(*), pg_catalog.count(DISTINCT z.time_zone), pg_catalog.count(*) FILTER (WHERE z.time_zone IS NULL),
               pg_catalog.min(z.time_zone),
               pg_catalog.string_agg(pg_catalog.format('%s (%s)', n.namespace, COALESCE(z.time_zone, 'no zone')), ', ' ORDER BY n.namespace)
          INTO n_sites, n_zones, n_unset, one_zone, site_zones
          FROM (SELECT DISTINCT s.namespace
                  -- the sessions the report covers, active ones too (a report
                  -- with include_active must not change zone)
                  FROM sessions.report_sessions(report_time_zone.range, report_time_zone.site, true, report_time_zone.sites) s
                 WHERE report_time_zone.user_ref IS NULL OR s.user_ref = report_time_zone.user_ref) n
          LEFT JOIN sessions.site z ON z.namespace = n.namespace;
    END IF;
    IF n_zones = 1 AND n_unset = 0 THEN
        time_zone := one_zone;
        source := 'site';
    ELSIF n_zones = 0 THEN
        time_zone := 'UTC';
        source := 'default';
    ELSE
        time_zone := 'UTC';
        source := 'mixed';
        RAISE NOTICE 'the sites of this report do not share one time zone: days are UTC days'
              USING DETAIL = pg_catalog.format('Sites: %s.', pg_catalog.left(site_zones, 2000)),
                    HINT = 'Pass a zone (tz), report one site at a time, or give each site its zone with sessions.set_site().';
    END IF;
END
$$;

/*
 * user_report_rows
 *		The rows of user_report (its arguments renamed: PL/pgSQL refuses an
 *		argument named as a result column). PL/pgSQL over the store itself
 *		(the WHERE clause is report_sessions' with site NULL and
 *		include_active): Citus plans a query on a distributed table only when
 *		it names the table and binds the parameters of PL/pgSQL statements,
 *		not of SQL functions; the zone is resolved once, here, and volts
 *		travels as a value (docs/scale-out.md).
 */
CREATE FUNCTION sessions.user_report_rows(p_user_ref text, p_range tstzrange, p_tz text, p_volts float8)
RETURNS TABLE(user_ref text, user_sessions bigint, session_no bigint, session_key uuid, namespace text,
              external_id text, site text, started_local timestamp, ended_local timestamp,
              duration text, duration_interval interval, kwh float8, average_w float8,
              average_a float8, rating text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    zone pg_catalog.text;
BEGIN
    zone := (SELECT z.time_zone FROM sessions.report_time_zone($2, NULL, NULL, $1, $3) z);
    RETURN QUERY
    SELECT s.user_ref,
           pg_catalog.count(*) OVER (PARTITION BY s.user_ref),
           pg_catalog.row_number() OVER (PARTITION BY s.user_ref ORDER BY s.started_at DESC, s.session_key),
           s.session_key, s.namespace, s.external_id, s.site,
           pg_catalog.timezone(zone, s.started_at),
           pg_catalog.timezone(zone, s.ended_at),
           sessions.format_duration(s.ended_at OPERATOR(pg_catalog.-) s.started_at),
           s.ended_at OPERATOR(pg_catalog.-) s.started_at,
           s.kwh,
           sessions.average_power_w(s.kwh, s.started_at, s.ended_at),
           sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4),
           sessions.charge_rating(sessions.average_current_a(s.kwh, s.started_at, s.ended_at, $4))
      FROM sessions.store s
     WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
       AND s.started_at IS NOT NULL
       AND ($2 IS NULL OR ($2 OPERATOR(pg_catalog.@>) s.started_at
            AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($2), '-infinity'::pg_catalog.timestamptz)
            AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($2), 'infinity'::pg_catalog.timestamptz)))
       AND ($1 IS NULL OR s.user_ref OPERATOR(pg_catalog.=) $1)
     ORDER BY s.user_ref NULLS FIRST, s.started_at DESC, s.session_key;
END
$$;
COMMENT ON FUNCTION sessions.user_report_rows(text, tstzrange, text, float8) IS
  'The rows of sessions.user_report (internal to it; PL/pgSQL so that Citus binds its parameters)';
REVOKE ALL ON FUNCTION sessions.user_report_rows(text, tstzrange, text, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.user_report_rows(text, tstzrange, text, float8) TO session_analytics_reader;

CREATE OR REPLACE FUNCTION sessions.user_report(
    user_ref text DEFAULT NULL,
    range tstzrange DEFAULT NULL,
    tz text DEFAULT NULL,
    volts float8 DEFAULT sessions.analytics_setting('volts'))
RETURNS TABLE(user_ref text, user_sessions bigint, session_no bigint, session_key uuid, namespace text,
              external_id text, site text, started_local timestamp, ended_local timestamp,
              duration text, duration_interval interval, kwh float8, average_w float8,
              average_a float8, rating text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT * FROM sessions.user_report_rows($1, $2, $3, $4)
$$;

REVOKE ALL ON FUNCTION sessions.analytics_setting(text), sessions.report_sessions(tstzrange, text, boolean, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.analytics_setting(text), sessions.report_sessions(tstzrange, text, boolean, text[])
  TO session_analytics_reader;

-- Issue 14: the log keeps one index (its primary key). Retention deletes the
-- oldest events in seq order (sessions.prune_events), so the BRIN index on
-- logged_at, maintained by every writer for every event, goes.
DROP INDEX sessions.event_log_logged_at_idx;

-- The live summaries' parameters when none are configured are the settings'
-- built-in defaults, read from the C definitions (issue 11: one source).
CREATE FUNCTION sessions.analytics_setting_default(name text)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_analytics_setting_default'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.analytics_setting_default(text) IS
  'Built-in default of the setting session_analytics.<name> (micro_threshold, volts, good_amps, fair_amps), whatever is set: the live summaries'' parameters when none are configured';
REVOKE ALL ON FUNCTION sessions.analytics_setting_default(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.analytics_setting_default(text) TO session_analytics_reader;

-- ---- live summaries (issue 13; src/sql/50_summaries.sql, 20_analytics.sql) ----
-- The tables, triggers and functions of 50_summaries.sql, the reports'
-- reader (report_path, summary_stats) and the reports reading it, and
-- maintenance() compacting the summaries. At the end the summaries are
-- built for the sessions the store already holds.
-- ---- settings ------------------------------------------------------------------

CREATE TABLE sessions.summary_config (
    id              boolean     NOT NULL DEFAULT true,
    enabled         boolean     NOT NULL DEFAULT true,
    micro_threshold float8      NOT NULL DEFAULT sessions.analytics_setting_default('micro_threshold'),
    volts           float8      NOT NULL DEFAULT sessions.analytics_setting_default('volts'),
    good_a          float8      NOT NULL DEFAULT sessions.analytics_setting_default('good_amps'),
    fair_a          float8      NOT NULL DEFAULT sessions.analytics_setting_default('fair_amps'),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT summary_config_pkey PRIMARY KEY (id),
    CONSTRAINT summary_config_single CHECK (id),
    CONSTRAINT summary_config_params CHECK (
        micro_threshold > 0 AND micro_threshold < 'infinity' AND volts > 0 AND volts < 'infinity'
        AND good_a > 0 AND good_a < 'infinity' AND fair_a > 0 AND fair_a <= good_a)
);
COMMENT ON TABLE sessions.summary_config IS
  'Live summaries of this installation: on or off and the summarized parameters; no row = on with the settings'' built-in defaults (analytics_setting_default: 1.0 kWh, 208 V, 16 A, 8 A). Written by sessions.configure_summaries (owner)';
COMMENT ON COLUMN sessions.summary_config.enabled IS 'false: no summaries are kept (the store''s summary triggers are disabled) and every report scans';
COMMENT ON COLUMN sessions.summary_config.micro_threshold IS 'Microsession threshold (kWh) the summaries classify with';
COMMENT ON COLUMN sessions.summary_config.volts IS 'Volts the summaries rate with';
COMMENT ON COLUMN sessions.summary_config.good_a IS 'Amperes from which the summaries rate green';
COMMENT ON COLUMN sessions.summary_config.fair_a IS 'Amperes from which the summaries rate orange';
-- The user's choice survives pg_dump; the row's trigger applies it on restore.
SELECT pg_catalog.pg_extension_config_dump('sessions.summary_config', '');
-- The settings are the installation's, not a tenant's: every reader reads
-- them (report_path); only the owner writes them (no grant, no policy).
ALTER TABLE sessions.summary_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY summary_config_read ON sessions.summary_config FOR SELECT USING (true);

/*
 * summary_settings
 *		The effective settings: the row of summary_config, else the defaults.
 */
CREATE FUNCTION sessions.summary_settings(
    OUT enabled boolean, OUT micro_threshold float8, OUT volts float8, OUT good_a float8, OUT fair_a float8)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT COALESCE(c.enabled, true), COALESCE(c.micro_threshold, sessions.analytics_setting_default('micro_threshold')),
           COALESCE(c.volts, sessions.analytics_setting_default('volts')), COALESCE(c.good_a, sessions.analytics_setting_default('good_amps')),
           COALESCE(c.fair_a, sessions.analytics_setting_default('fair_amps'))
      FROM (SELECT 1) one
      LEFT JOIN sessions.summary_config c ON c.id;
END;
COMMENT ON FUNCTION sessions.summary_settings() IS
  'Effective live-summary settings: enabled and the summarized micro_threshold, volts, good_a, fair_a (summary_config, else the defaults)';

/*
 * summary_distributed
 *		Whether sessions.store is a Citus distributed table (distribute()
 *		ran): then the summaries' maintenance goes through the coordinator's
 *		distributed statements (docs/scale-out.md, "Live summaries"). One
 *		catalog probe without Citus; pg_dist_partition is read by EXECUTE, so
 *		the function exists without it.
 */
CREATE FUNCTION sessions.summary_distributed()
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    d boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                             WHERE p.logicalrelid = ''sessions.store''::pg_catalog.regclass)' INTO d;
    RETURN d;
END
$$;
COMMENT ON FUNCTION sessions.summary_distributed() IS
  'Whether sessions.store is distributed over a Citus cluster (the summaries are then maintained through the coordinator; internal)';

-- ---- the delta rows ------------------------------------------------------------

CREATE TABLE sessions.summary_delta (
    namespace  text    NOT NULL,
    kind       text    NOT NULL,
    site       text,
    day        date    NOT NULL,
    time_zone  text    NOT NULL,
    active     bigint  NOT NULL,
    completed  bigint  NOT NULL,
    empty      bigint  NOT NULL,
    micro      bigint  NOT NULL,
    normal     bigint  NOT NULL,
    green      bigint  NOT NULL,
    orange     bigint  NOT NULL,
    red        bigint  NOT NULL,
    kwh        numeric NOT NULL,
    duration   bigint  NOT NULL
);
COMMENT ON TABLE sessions.summary_delta IS
  'Live summaries: signed changes of the summary of (namespace, kind, site, local day in time_zone), appended by every write of sessions.store; a summary is the SUM of its rows, compacted by sessions.compact_summaries; row-level security by namespace';
COMMENT ON COLUMN sessions.summary_delta.site IS 'sessions.store.site of the sessions (OCPI location_id); NULL when they have none';
COMMENT ON COLUMN sessions.summary_delta.day IS 'Local date of started_at in time_zone';
COMMENT ON COLUMN sessions.summary_delta.time_zone IS
  'The zone the day was computed in: the namespace''s sessions.site.time_zone when written, UTC when none';
COMMENT ON COLUMN sessions.summary_delta.kwh IS
  'Energy of completed sessions, the exact sum of each kWh''s shortest decimal form (no summation-order noise)';
COMMENT ON COLUMN sessions.summary_delta.duration IS 'Summed duration of completed sessions, microseconds';
-- No index: summary_capture appends to the heap alone (the cheapest write a
-- store statement can add), and readers scan a table the maintenance round
-- keeps at one row per key (docs/summaries.md, "Costs").

ALTER TABLE sessions.summary_delta ENABLE ROW LEVEL SECURITY;
CREATE POLICY summary_delta_by_namespace ON sessions.summary_delta FOR SELECT
    USING (sessions.namespace_visible(namespace));

/*
 * summary_contribution
 *		What one session adds (sign 1) to or takes (sign -1) from the summary
 *		of its day: the counters and totals session_stats_agg keeps, by the
 *		same rules (classes of completed sessions, ratings of completed
 *		sessions with kWh and a positive duration by the scalar functions'
 *		formula). kWh is the exact decimal of the value's shortest text form
 *		(the caller sets extra_float_digits = 1), so a session added and later
 *		subtracted cancels exactly. One SELECT without FROM: inlined.
 */
CREATE FUNCTION sessions.summary_contribution(
    started_at timestamptz, ended_at timestamptz, kwh float8, sign int,
    micro_threshold float8, volts float8, good_a float8, fair_a float8)
RETURNS TABLE(active bigint, completed bigint, empty bigint, micro bigint, normal bigint,
              green bigint, orange bigint, red bigint, kwh numeric, duration bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN $2 IS NULL THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN $2 IS NOT NULL THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN $2 IS NOT NULL AND $3 OPERATOR(pg_catalog.=) 0 THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN $2 IS NOT NULL AND $3 OPERATOR(pg_catalog.>) 0 AND $3 OPERATOR(pg_catalog.<) $5 THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN $2 IS NOT NULL AND $3 OPERATOR(pg_catalog.>=) $5 THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN r.rating OPERATOR(pg_catalog.=) 'green' THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN r.rating OPERATOR(pg_catalog.=) 'orange' THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN r.rating OPERATOR(pg_catalog.=) 'red' THEN $4 ELSE 0 END::pg_catalog.int8,
           CASE WHEN $2 IS NOT NULL AND $3 IS NOT NULL
                THEN $3::pg_catalog.text::pg_catalog.numeric OPERATOR(pg_catalog.*) $4::pg_catalog.numeric
                ELSE 0::pg_catalog.numeric END,
           CASE WHEN $2 IS NOT NULL
                THEN ((pg_catalog.extract('epoch', $2) OPERATOR(pg_catalog.-) pg_catalog.extract('epoch', $1))
                      OPERATOR(pg_catalog.*) (1000000 OPERATOR(pg_catalog.*) $4)::pg_catalog.numeric)::pg_catalog.int8
                ELSE 0 END
      FROM (SELECT CASE WHEN $2 IS NOT NULL AND $3 IS NOT NULL AND $2 OPERATOR(pg_catalog.>) $1
                        THEN sessions.charge_rating(sessions.average_current_a($3, $1, $2, $6), $7, $8) END AS rating) r
$$;
COMMENT ON FUNCTION sessions.summary_contribution(timestamptz, timestamptz, float8, int, float8, float8, float8, float8) IS
  'Counters, kWh (exact decimal) and duration (us) one session adds (sign 1) to or takes (sign -1) from its day''s summary (internal)';

/*
 * summary_scan
 *		The summaries as a fresh scan of the store computes them, one row per
 *		key (of namespace, or of all namespaces when NULL), in each
 *		namespace's current zone: what rebuild_summaries stores and
 *		check_summaries compares with.
 */
CREATE FUNCTION sessions.summary_scan(namespace text DEFAULT NULL)
RETURNS SETOF sessions.summary_delta
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, sessions, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    g record;
BEGIN
    -- PL/pgSQL, the settings read first: on a Citus cluster the statement
    -- runs on the workers' shards with the parameters as constants (Citus
    -- binds a PL/pgSQL statement's parameters, not an SQL function's).
    SELECT * INTO g FROM sessions.summary_settings();
    RETURN QUERY
    SELECT r.namespace, r.kind, r.site, pg_catalog.timezone(COALESCE(st.time_zone, 'UTC'), r.started_at)::pg_catalog.date,
           COALESCE(st.time_zone, 'UTC'),
           pg_catalog.sum(x.active)::pg_catalog.int8, pg_catalog.sum(x.completed)::pg_catalog.int8,
           pg_catalog.sum(x.empty)::pg_catalog.int8, pg_catalog.sum(x.micro)::pg_catalog.int8,
           pg_catalog.sum(x.normal)::pg_catalog.int8, pg_catalog.sum(x.green)::pg_catalog.int8,
           pg_catalog.sum(x.orange)::pg_catalog.int8, pg_catalog.sum(x.red)::pg_catalog.int8,
           pg_catalog.sum(x.kwh), pg_catalog.sum(x.duration)::pg_catalog.int8
      FROM sessions.store r
      LEFT JOIN sessions.site st ON st.namespace OPERATOR(pg_catalog.=) r.namespace
     CROSS JOIN LATERAL sessions.summary_contribution(r.started_at, r.ended_at, r.kwh, 1,
                                                      g.micro_threshold, g.volts, g.good_a, g.fair_a) x
     WHERE r.started_at IS NOT NULL
       AND (summary_scan.namespace IS NULL OR r.namespace OPERATOR(pg_catalog.=) summary_scan.namespace)
     GROUP BY 1, 2, 3, 4, 5;
END
$$;
COMMENT ON FUNCTION sessions.summary_scan(text) IS
  'The summaries of namespace (NULL: all) as a fresh scan of the store computes them, in each namespace''s current zone (internal)';

-- ---- maintained by the store's statement triggers --------------------------------

-- Every writer holds this advisory lock in SHARE mode (writers never wait on
-- each other); rebuild_summaries and configure take it exclusively, so a
-- rebuild sees every writer's rows and deltas or none of them, and no writer
-- computes a day with a zone or parameters the rebuild is replacing.
-- Key: (1935765845, 1) = ('sa' 'su' as int4, summaries). On a Citus cluster
-- the lock is per node: a rebuild through the coordinator also locks the
-- distributed summary_delta EXCLUSIVE (Citus sends the LOCK to every
-- worker's shell table), and the shards' triggers take ROW EXCLUSIVE on
-- their node's shell (src/summaries/summary_capture.c).

/*
 * summary_capture
 *		Statement trigger of sessions.store (INSERT, UPDATE, DELETE with
 *		their transition tables; TRUNCATE), in C (src/summary_capture.c):
 *		appends one delta row per key the statement changed, the new rows'
 *		contributions (summary_contribution) minus the old rows', keys whose
 *		change is nil left out. It reads sessions.summary_config and
 *		sessions.site and appends to sessions.summary_delta by direct table
 *		access, so it needs no privilege of the writer (who has none on
 *		them), and refuses to run on any table but sessions.store; nobody
 *		but the owner may attach it (no EXECUTE).
 */
CREATE FUNCTION sessions.summary_capture()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'sa_summary_capture';
COMMENT ON FUNCTION sessions.summary_capture() IS
  'Statement trigger of sessions.store: appends the summary changes of the statement''s rows (transition tables) to sessions.summary_delta (internal)';

CREATE TRIGGER summary_insert AFTER INSERT ON sessions.store
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_capture();
CREATE TRIGGER summary_update AFTER UPDATE ON sessions.store
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_capture();
CREATE TRIGGER summary_delete AFTER DELETE ON sessions.store
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_capture();
CREATE TRIGGER summary_truncate AFTER TRUNCATE ON sessions.store
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_capture();
COMMENT ON TRIGGER summary_insert ON sessions.store IS 'Live summaries: adds the inserted sessions (sessions.summary_capture)';
COMMENT ON TRIGGER summary_update ON sessions.store IS 'Live summaries: moves the contributions of updated sessions (sessions.summary_capture)';
COMMENT ON TRIGGER summary_delete ON sessions.store IS 'Live summaries: subtracts the deleted sessions (sessions.summary_capture)';
COMMENT ON TRIGGER summary_truncate ON sessions.store IS 'Live summaries: empties them with the store (sessions.summary_capture)';

-- ---- rebuild, check, compaction ------------------------------------------------

/*
 * rebuild_summaries
 *		Recomputes the summaries of namespace (NULL: all) from the store in
 *		its current zone and the summarized parameters: the old rows deleted
 *		and the fresh ones inserted by one statement, under the exclusive
 *		summary lock (it waits for open writers; new writers wait for it).
 *		Returns the number of summary rows written. Owner only: it crosses
 *		tenants. Run by the zone trigger of sessions.site and by
 *		configure_summaries; by hand after a restore with triggers disabled.
 */
CREATE FUNCTION sessions.rebuild_summaries(namespace text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    n pg_catalog.int8;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(1935765845, 1);
    IF sessions.summary_distributed() THEN
        -- On a Citus cluster the writers are the shards' triggers on the
        -- workers, each under its own node's advisory lock. LOCK TABLE of the
        -- distributed summary_delta is sent by Citus to every worker in this
        -- coordinated transaction (its shell table there), and the shard
        -- triggers take ROW EXCLUSIVE on that shell: writers wait for the
        -- rebuild and it for them, on every node. Then the delete and the
        -- fresh rows as two distributed statements (Citus plans no
        -- data-modifying CTE of a distributed table with another).
        LOCK TABLE sessions.summary_delta IN EXCLUSIVE MODE;
        DELETE FROM sessions.summary_delta d WHERE rebuild_summaries.namespace IS NULL OR d.namespace = rebuild_summaries.namespace;
        IF NOT (SELECT g.enabled FROM sessions.summary_settings() g) THEN
            RETURN 0;
        END IF;
        INSERT INTO sessions.summary_delta SELECT * FROM sessions.summary_scan(rebuild_summaries.namespace);
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END IF;
    IF NOT (SELECT g.enabled FROM sessions.summary_settings() g) THEN
        DELETE FROM sessions.summary_delta d WHERE rebuild_summaries.namespace IS NULL OR d.namespace = rebuild_summaries.namespace;
        RETURN 0;
    END IF;
    WITH gone AS (
        DELETE FROM sessions.summary_delta d
         WHERE rebuild_summaries.namespace IS NULL OR d.namespace = rebuild_summaries.namespace
    ), fresh AS (
        INSERT INTO sessions.summary_delta SELECT * FROM sessions.summary_scan(rebuild_summaries.namespace)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) INTO n FROM fresh;
    RETURN n;
END
$$;
COMMENT ON FUNCTION sessions.rebuild_summaries(text) IS
  'Recomputes the live summaries of namespace (NULL: all) from the store; returns the rows written (owner only)';

/*
 * check_summaries
 *		Every key where the summaries (the SUM of the delta rows) differ from
 *		a fresh scan of the store (summary_scan): counters, kWh and duration
 *		compared exactly, the zone as a part of the key. Empty when they are
 *		right, and when summaries are switched off. Owner only.
 */
CREATE FUNCTION sessions.check_summaries()
RETURNS TABLE(namespace text, kind text, site text, day date, time_zone text, summary jsonb, scan jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    WITH s AS (
        SELECT d.namespace, d.kind, d.site, d.day, d.time_zone,
               pg_catalog.jsonb_build_object('active', pg_catalog.sum(d.active), 'completed', pg_catalog.sum(d.completed),
                   'empty', pg_catalog.sum(d.empty), 'micro', pg_catalog.sum(d.micro), 'normal', pg_catalog.sum(d.normal),
                   'green', pg_catalog.sum(d.green), 'orange', pg_catalog.sum(d.orange), 'red', pg_catalog.sum(d.red),
                   'kwh', pg_catalog.sum(d.kwh), 'duration', pg_catalog.sum(d.duration)) AS v
          FROM sessions.summary_delta d
         GROUP BY 1, 2, 3, 4, 5
    ), f AS (
        SELECT c.namespace, c.kind, c.site, c.day, c.time_zone,
               pg_catalog.jsonb_build_object('active', c.active::pg_catalog.numeric, 'completed', c.completed::pg_catalog.numeric,
                   'empty', c.empty::pg_catalog.numeric, 'micro', c.micro::pg_catalog.numeric, 'normal', c.normal::pg_catalog.numeric,
                   'green', c.green::pg_catalog.numeric, 'orange', c.orange::pg_catalog.numeric, 'red', c.red::pg_catalog.numeric,
                   'kwh', c.kwh, 'duration', c.duration::pg_catalog.numeric) AS v
          FROM sessions.summary_scan(NULL) c
    ), zero AS (
        SELECT pg_catalog.jsonb_build_object('active', 0, 'completed', 0, 'empty', 0, 'micro', 0, 'normal', 0,
                   'green', 0, 'orange', 0, 'red', 0, 'kwh', 0, 'duration', 0) AS v
    )
    SELECT COALESCE(s.namespace, f.namespace), COALESCE(s.kind, f.kind), COALESCE(s.site, f.site),
           COALESCE(s.day, f.day), COALESCE(s.time_zone, f.time_zone), s.v, f.v
      FROM s
      FULL JOIN f
        ON f.namespace = s.namespace AND f.kind = s.kind AND (f.site IS NULL) = (s.site IS NULL)
       AND COALESCE(f.site, '') = COALESCE(s.site, '') AND f.day = s.day AND f.time_zone = s.time_zone
     CROSS JOIN zero
     WHERE (SELECT g.enabled FROM sessions.summary_settings() g)
       AND COALESCE(s.v, zero.v) IS DISTINCT FROM COALESCE(f.v, zero.v)
     ORDER BY 1, 2, 3, 4, 5
$$;
COMMENT ON FUNCTION sessions.check_summaries() IS
  'Keys whose live summary differs from a fresh scan of the store (summary and scan as jsonb; NULL = no such key); must return no rows (owner only)';

/*
 * compact_summaries
 *		Merges the delta rows of every key that has several into one row
 *		(none when they sum to nil): one statement that deletes exactly the
 *		rows its snapshot sees and inserts their sum, so rows of writers
 *		still open are left for the next round and writers never wait.
 *		Summary storage is then O(keys), not O(writes). Returns the number
 *		of keys merged. Called by sessions.maintenance(). Owner only.
 */
CREATE FUNCTION sessions.compact_summaries()
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    n pg_catalog.int8;
BEGIN
    -- SHARE: concurrent with writers, never with a rebuild (whose DELETE
    -- would skip the rows this deletes and miss the one it inserts).
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1935765845, 1);
    -- Off, the summaries are dropped (summary_apply): nothing to compact.
    IF NOT (SELECT g.enabled FROM sessions.summary_settings() g) THEN
        RETURN 0;
    END IF;
    -- On a Citus cluster Citus cannot plan the merge's DELETE by ctid: the
    -- statement runs on each summary_delta shard, on its worker, in a
    -- transaction of its own (a merge keeps every sum, so readers between
    -- two shards' rounds see the same answer). On one node it runs on the
    -- table itself.
    IF sessions.summary_distributed() THEN
        EXECUTE $c$SELECT COALESCE(pg_catalog.sum(r.result::pg_catalog.int8), 0)
                     FROM pg_catalog.run_command_on_shards('sessions.summary_delta',
                              'SELECT sessions.compact_summary_shard(''%s'')') r$c$ INTO n;
        RETURN n;
    END IF;
    RETURN sessions.compact_summary_shard('sessions.summary_delta'::pg_catalog.regclass);
END
$$;
COMMENT ON FUNCTION sessions.compact_summaries() IS
  'Merges the live-summary delta rows of each key into one (O(sites x days) storage) without blocking writers; returns the keys merged (owner only; run by maintenance())';

/*
 * compact_summary_shard
 *		compact_summaries' merge on sessions.summary_delta itself (one node)
 *		or on one of its shards, on the Citus worker that holds it
 *		(run_command_on_shards runs it there): the rows of every key with
 *		several merged into one, deleting exactly what the statement's
 *		snapshot sees. Under this node's summary lock (SHARE) and ROW
 *		EXCLUSIVE on the summary_delta shell, which a rebuild through the
 *		coordinator locks EXCLUSIVE on every node: never beside a rebuild,
 *		never blocking writers. Returns the keys merged. Owner only.
 */
CREATE FUNCTION sessions.compact_summary_shard(shard regclass)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    n pg_catalog.int8;
    rel pg_catalog.text;
BEGIN
    SELECT c.relname INTO rel FROM pg_catalog.pg_class c
     WHERE c.oid = compact_summary_shard.shard AND c.relnamespace = 'sessions'::pg_catalog.regnamespace
       AND c.relname ~ '^summary_delta(_[0-9]+)?$';
    IF rel IS NULL THEN
        RAISE EXCEPTION 'compact_summary_shard: % is not sessions.summary_delta or a shard of it', compact_summary_shard.shard
              USING ERRCODE = '22023', HINT = 'Run sessions.compact_summaries() on the coordinator.';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1935765845, 1);
    IF rel <> 'summary_delta' THEN
        -- This node's lock only: not sent to the other nodes.
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
        LOCK TABLE sessions.summary_delta IN ROW EXCLUSIVE MODE;
    END IF;
    EXECUTE pg_catalog.format($q$
    WITH gone AS (
        DELETE FROM sessions.%1$I d
         WHERE d.ctid = ANY (ARRAY(
                SELECT k.ctid
                  FROM (SELECT x.ctid, pg_catalog.count(*) OVER (PARTITION BY x.namespace, x.kind, x.site, x.day, x.time_zone) AS rows
                          FROM sessions.%1$I x) k
                 WHERE k.rows OPERATOR(pg_catalog.>) 1))
        RETURNING d.*
    ), merged AS (
        INSERT INTO sessions.%1$I
        SELECT g.namespace, g.kind, g.site, g.day, g.time_zone,
               pg_catalog.sum(g.active), pg_catalog.sum(g.completed), pg_catalog.sum(g.empty), pg_catalog.sum(g.micro),
               pg_catalog.sum(g.normal), pg_catalog.sum(g.green), pg_catalog.sum(g.orange), pg_catalog.sum(g.red),
               pg_catalog.sum(g.kwh), pg_catalog.sum(g.duration)
          FROM gone g
         GROUP BY 1, 2, 3, 4, 5
        HAVING pg_catalog.sum(g.active) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(g.completed) OPERATOR(pg_catalog.<>) 0
            OR pg_catalog.sum(g.empty) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(g.micro) OPERATOR(pg_catalog.<>) 0
            OR pg_catalog.sum(g.normal) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(g.green) OPERATOR(pg_catalog.<>) 0
            OR pg_catalog.sum(g.orange) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(g.red) OPERATOR(pg_catalog.<>) 0
            OR pg_catalog.sum(g.kwh) OPERATOR(pg_catalog.<>) 0 OR pg_catalog.sum(g.duration) OPERATOR(pg_catalog.<>) 0
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM (SELECT DISTINCT g.namespace, g.kind, g.site, g.day, g.time_zone FROM gone g) k$q$, rel)
    INTO n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION sessions.compact_summary_shard(regclass) IS
  'compact_summaries'' merge on sessions.summary_delta, or on one of its shards on a Citus worker (run by compact_summaries, through run_command_on_shards on a cluster); returns the keys merged (owner only)';

-- ---- zone changes and settings -------------------------------------------------

/*
 * summary_site_changed
 *		Row trigger of sessions.site: a namespace whose zone changes (NULL
 *		counts as UTC) gets its summaries rebuilt in the new zone, in the same
 *		transaction.
 */
CREATE FUNCTION sessions.summary_site_changed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
SET citus.allow_nested_distributed_execution = on
AS $$
DECLARE
    oz pg_catalog.text;
    nz pg_catalog.text;
    grp pg_catalog.int4;
BEGIN
    -- On a Citus cluster site is a reference table: the trigger fires on
    -- every node's placement (site_<shardid>). The rebuild is the
    -- coordinator's (group 0), once: the workers' placements do nothing.
    -- Its distributed statements run from inside Citus's local execution
    -- of the coordinator's placement (hence allow_nested_distributed_execution).
    IF TG_TABLE_NAME <> 'site' THEN
        EXECUTE 'SELECT g.groupid FROM pg_catalog.pg_dist_local_group g' INTO grp;
        IF grp IS DISTINCT FROM 0 THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        oz := COALESCE(OLD.time_zone, 'UTC');
    END IF;
    IF TG_OP <> 'DELETE' THEN
        nz := COALESCE(NEW.time_zone, 'UTC');
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.namespace = NEW.namespace THEN
        IF oz <> nz THEN
            PERFORM sessions.rebuild_summaries(NEW.namespace);
        END IF;
    ELSE
        -- A new row, a deleted one, or a renamed namespace: each side was or
        -- becomes UTC, so only a side with another zone needs a rebuild.
        IF oz <> 'UTC' THEN
            PERFORM sessions.rebuild_summaries(OLD.namespace);
        END IF;
        IF nz <> 'UTC' THEN
            PERFORM sessions.rebuild_summaries(NEW.namespace);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION sessions.summary_site_changed() IS
  'Trigger of sessions.site: rebuilds the live summaries of a namespace whose time zone changed (internal)';
CREATE TRIGGER summary_zone AFTER INSERT OR UPDATE OR DELETE ON sessions.site
    FOR EACH ROW EXECUTE FUNCTION sessions.summary_site_changed();
COMMENT ON TRIGGER summary_zone ON sessions.site IS
  'Live summaries: a namespace whose zone changes is rebuilt in the new zone (sessions.summary_site_changed)';

/*
 * summary_apply
 *		Statement trigger of summary_config (configure_summaries, a restore
 *		of the dumped row): on, the store's summary triggers are enabled and
 *		every summary rebuilt with the parameters; off, the triggers are
 *		disabled (writes pay nothing) and the summaries dropped.
 */
CREATE FUNCTION sessions.summary_apply()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
AS $$
BEGIN
    -- On a Citus cluster summary_config is a reference table and this fires
    -- on its placements: configure_summaries applies the settings itself
    -- there (no DDL from inside Citus's execution of a placement).
    IF TG_TABLE_NAME <> 'summary_config' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(1935765845, 1);
    IF (SELECT g.enabled FROM sessions.summary_settings() g) THEN
        ALTER TABLE sessions.store ENABLE TRIGGER summary_insert, ENABLE TRIGGER summary_update,
            ENABLE TRIGGER summary_delete, ENABLE TRIGGER summary_truncate;
    ELSE
        ALTER TABLE sessions.store DISABLE TRIGGER summary_insert, DISABLE TRIGGER summary_update,
            DISABLE TRIGGER summary_delete, DISABLE TRIGGER summary_truncate;
    END IF;
    PERFORM sessions.rebuild_summaries(NULL);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION sessions.summary_apply() IS
  'Trigger of sessions.summary_config: switches the store''s summary triggers on or off and rebuilds the summaries (internal)';
CREATE TRIGGER summary_apply AFTER INSERT OR UPDATE OR DELETE ON sessions.summary_config
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_apply();
COMMENT ON TRIGGER summary_apply ON sessions.summary_config IS
  'Applies the live-summary settings (sessions.summary_apply)';

/*
 * configure_summaries
 *		Switches live summaries on or off for this installation and sets the
 *		parameters they are built with; rebuilds them (summary_apply). The
 *		defaults leave no row. Owner only.
 */
CREATE FUNCTION sessions.configure_summaries(
    enabled boolean DEFAULT true,
    micro_threshold float8 DEFAULT sessions.analytics_setting_default('micro_threshold'),
    volts float8 DEFAULT sessions.analytics_setting_default('volts'),
    good_a float8 DEFAULT sessions.analytics_setting_default('good_amps'),
    fair_a float8 DEFAULT sessions.analytics_setting_default('fair_amps'))
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    distributed boolean := sessions.summary_distributed();
    ts timestamptz := pg_catalog.now();
BEGIN
    IF enabled IS NULL OR micro_threshold IS NULL OR volts IS NULL OR good_a IS NULL OR fair_a IS NULL THEN
        RAISE EXCEPTION 'configure_summaries: no argument may be NULL'
              USING ERRCODE = '22004', HINT = 'Leave an argument out to use its default.';
    END IF;
    IF NOT (micro_threshold > 0 AND micro_threshold < 'infinity' AND volts > 0 AND volts < 'infinity'
            AND good_a > 0 AND good_a < 'infinity' AND fair_a > 0 AND fair_a < 'infinity') THEN
        RAISE EXCEPTION 'configure_summaries: micro_threshold, volts, good_a and fair_a must be finite numbers > 0'
              USING ERRCODE = '22023';
    END IF;
    IF fair_a > good_a THEN
        RAISE EXCEPTION 'configure_summaries: fair_a (%) must not be above good_a (%)', fair_a, good_a
              USING ERRCODE = '22023', HINT = 'fair_a is the lower limit (orange), good_a the upper (green).';
    END IF;
    -- On a Citus cluster summary_config's trigger fires on its placements
    -- only, which leave the work here: the store's summary triggers (Citus
    -- alters its shards' with it, one trigger per statement) switched first, under the summary lock,
    -- then the row, then the rebuild on every node (rebuild_summaries).
    IF distributed THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(1935765845, 1);
        -- as in distribute(): Citus alters the shards' triggers with the store's
        PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
        IF enabled THEN
            ALTER TABLE sessions.store ENABLE TRIGGER summary_insert;
            ALTER TABLE sessions.store ENABLE TRIGGER summary_update;
            ALTER TABLE sessions.store ENABLE TRIGGER summary_delete;
            ALTER TABLE sessions.store ENABLE TRIGGER summary_truncate;
        ELSE
            ALTER TABLE sessions.store DISABLE TRIGGER summary_insert;
            ALTER TABLE sessions.store DISABLE TRIGGER summary_update;
            ALTER TABLE sessions.store DISABLE TRIGGER summary_delete;
            ALTER TABLE sessions.store DISABLE TRIGGER summary_truncate;
        END IF;
    END IF;
    IF enabled AND micro_threshold = sessions.analytics_setting_default('micro_threshold')
       AND volts = sessions.analytics_setting_default('volts') AND good_a = sessions.analytics_setting_default('good_amps')
       AND fair_a = sessions.analytics_setting_default('fair_amps') THEN
        DELETE FROM sessions.summary_config;
    ELSE
        -- now() as a value: Citus refuses a non-IMMUTABLE function in DO
        -- UPDATE SET of a reference table.
        INSERT INTO sessions.summary_config AS c (enabled, micro_threshold, volts, good_a, fair_a, updated_at)
        VALUES (enabled, micro_threshold, volts, good_a, fair_a, ts)
        ON CONFLICT ON CONSTRAINT summary_config_pkey DO UPDATE
           SET enabled = EXCLUDED.enabled, micro_threshold = EXCLUDED.micro_threshold, volts = EXCLUDED.volts,
               good_a = EXCLUDED.good_a, fair_a = EXCLUDED.fair_a, updated_at = EXCLUDED.updated_at;
    END IF;
    IF distributed THEN
        PERFORM sessions.rebuild_summaries(NULL);
    END IF;
    RETURN (SELECT pg_catalog.to_jsonb(g) FROM sessions.summary_settings() g);
END
$$;
COMMENT ON FUNCTION sessions.configure_summaries(boolean, float8, float8, float8, float8) IS
  'Switches live summaries on or off and sets the summarized micro_threshold, volts, good_a, fair_a; rebuilds them; returns the settings (owner only)';

-- ---- privileges ----------------------------------------------------------------
-- Readers read the summaries of their namespaces (RLS) and the settings; the
-- report functions read them as the caller. Nobody but the owner writes them:
-- the triggers, rebuild, check and compaction run as the owner.
REVOKE ALL ON sessions.summary_config, sessions.summary_delta FROM PUBLIC;
GRANT SELECT ON sessions.summary_config, sessions.summary_delta TO session_analytics_reader;
REVOKE ALL ON FUNCTION sessions.summary_settings(), sessions.summary_contribution(timestamptz, timestamptz, float8, int, float8, float8, float8, float8),
    sessions.summary_scan(text), sessions.summary_capture(), sessions.rebuild_summaries(text), sessions.check_summaries(),
    sessions.compact_summaries(), sessions.compact_summary_shard(regclass), sessions.summary_distributed(),
    sessions.summary_site_changed(), sessions.summary_apply(),
    sessions.configure_summaries(boolean, float8, float8, float8, float8)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.summary_settings() TO session_analytics_reader;
-- report_time_zone asks it as the caller (which plan a cluster needs).
GRANT EXECUTE ON FUNCTION sessions.summary_distributed() TO session_analytics_reader;

/*
 * time_zone_source
 *		Where this session's TimeZone came from, as pg_settings.source says
 *		it (C: without building all of pg_settings).
 */
CREATE FUNCTION sessions.time_zone_source()
RETURNS text
AS 'MODULE_PATHNAME', 'sa_time_zone_source'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.time_zone_source() IS
  'pg_settings.source of this session''s TimeZone (default, configuration file, session, client, user, database, ...)';

/*
 * report_path
 *		Which path daily_report and summary_report take for these arguments:
 *		'summaries' when the live summaries answer exactly (summaries on and
 *		session_analytics.report_summaries on; micro_threshold and the volts,
 *		good_amps and fair_amps settings the summarized ones; the report's
 *		zone, resolved as report_time_zone does, the zone every summary read
 *		was built in; range whole local days of that zone), else 'scan'.
 *		reason says why; time_zone, first_day, end_day (exclusive) and
 *		namespaces are what the summary path reads. The namespaces of the
 *		report are found in the summaries within two days of the range (a
 *		superset of those with sessions in it, whatever their zones): they
 *		decide the zone, and only when they agree is the summary path taken.
 */
CREATE FUNCTION sessions.report_path(
    range tstzrange DEFAULT NULL,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL,
    OUT path text, OUT reason text, OUT time_zone text, OUT first_day date, OUT end_day date, OUT namespaces text[])
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    g        record;
    src      pg_catalog.text;
    mlo      pg_catalog.date;
    mhi      pg_catalog.date;
    zones    pg_catalog.text[];
    stale    pg_catalog.text;
    b        pg_catalog.timestamp;
BEGIN
    path := 'scan';
    IF pg_catalog.lower(COALESCE(pg_catalog.current_setting('session_analytics.report_summaries', true), 'on'))
       IN ('off', 'false', 'no', '0') THEN
        reason := 'session_analytics.report_summaries is off';
        RETURN;
    END IF;
    -- summary_config read directly (summary_settings() is a function call
    -- more, a quarter of a millisecond).
    SELECT COALESCE(c.enabled, true) AS enabled,
           COALESCE(c.micro_threshold, sessions.analytics_setting_default('micro_threshold')) AS micro_threshold,
           COALESCE(c.volts, sessions.analytics_setting_default('volts')) AS volts,
           COALESCE(c.good_a, sessions.analytics_setting_default('good_amps')) AS good_a,
           COALESCE(c.fair_a, sessions.analytics_setting_default('fair_amps')) AS fair_a
      INTO g
      FROM (SELECT 1) one LEFT JOIN sessions.summary_config c ON c.id;
    IF NOT g.enabled THEN
        reason := 'live summaries are switched off (sessions.configure_summaries)';
        RETURN;
    ELSIF report_path.micro_threshold IS DISTINCT FROM g.micro_threshold THEN
        reason := pg_catalog.format('micro_threshold %s is not the summarized %s', report_path.micro_threshold, g.micro_threshold);
        RETURN;
    ELSIF sessions.analytics_setting('volts') <> g.volts
       OR sessions.analytics_setting('good_amps') <> g.good_a
       OR sessions.analytics_setting('fair_amps') <> g.fair_a THEN
        reason := pg_catalog.format('the volts, good_amps or fair_amps setting is not the summarized %s V, %s A, %s A', g.volts, g.good_a, g.fair_a);
        RETURN;
    END IF;
    IF report_path.range IS NOT NULL AND pg_catalog.isempty(report_path.range) THEN
        path := 'summaries';
        reason := 'empty range';
        time_zone := 'UTC';
        namespaces := '{}';
        RETURN;
    END IF;
    IF report_path.range IS NOT NULL
       AND ((NOT pg_catalog.lower_inf(report_path.range) AND NOT pg_catalog.isfinite(pg_catalog.lower(report_path.range)))
            OR (NOT pg_catalog.upper_inf(report_path.range) AND NOT pg_catalog.isfinite(pg_catalog.upper(report_path.range)))) THEN
        reason := 'a bound of range is infinite';
        RETURN;
    END IF;

    -- The zone: tz, else the TimeZone set for the session, else the sites'.
    IF report_path.tz IS NOT NULL THEN
        -- checked as the scan checks it (no exception block: parallel safe)
        PERFORM pg_catalog.timezone(report_path.tz, pg_catalog.now());
        time_zone := report_path.tz;
        src := 'argument';
    ELSE
        src := sessions.time_zone_source();
        IF src IN ('session', 'client', 'user', 'database', 'database user') THEN
            time_zone := pg_catalog.current_setting('TimeZone');
            src := 'TimeZone';
        ELSE
            src := 'site';
        END IF;
    END IF;

    -- The report's namespaces, with a margin of two days for any zone.
    IF report_path.range IS NOT NULL AND NOT pg_catalog.lower_inf(report_path.range) THEN
        mlo := pg_catalog.timezone('UTC', pg_catalog.lower(report_path.range))::pg_catalog.date OPERATOR(pg_catalog.-) 2;
    END IF;
    IF report_path.range IS NOT NULL AND NOT pg_catalog.upper_inf(report_path.range) THEN
        mhi := pg_catalog.timezone('UTC', pg_catalog.upper(report_path.range))::pg_catalog.date OPERATOR(pg_catalog.+) 3;
    END IF;
    SELECT COALESCE(pg_catalog.array_agg(c.namespace ORDER BY c.namespace), '{}'),
           pg_catalog.array_agg(DISTINCT COALESCE(z.time_zone, '')),
           pg_catalog.string_agg(CASE WHEN c.tags <> ARRAY[COALESCE(z.time_zone, 'UTC')] OR (src <> 'site' AND c.tags <> ARRAY[report_path.time_zone])
                                      THEN pg_catalog.format('%s (%s)', c.namespace, pg_catalog.array_to_string(c.tags, ', ')) END, ', ')
      INTO namespaces, zones, stale
      FROM (SELECT d.namespace, pg_catalog.array_agg(DISTINCT d.time_zone) AS tags
              FROM sessions.summary_delta d
             WHERE d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND (mlo IS NULL OR d.day >= mlo) AND (mhi IS NULL OR d.day < mhi)
               AND (report_path.site IS NULL OR d.site = report_path.site)
               AND (report_path.sites IS NULL OR d.site = ANY (report_path.sites))
             GROUP BY d.namespace
            HAVING pg_catalog.sum(d.active OPERATOR(pg_catalog.+) d.completed) <> 0) c
      LEFT JOIN sessions.site z ON z.namespace = c.namespace;
    IF src = 'site' THEN
        IF pg_catalog.cardinality(namespaces) = 0 THEN
            time_zone := 'UTC';
        ELSIF pg_catalog.cardinality(zones) = 1 THEN
            time_zone := COALESCE(NULLIF(zones[1], ''), 'UTC');
        ELSE
            reason := 'the report''s sites do not share one time zone: the report has UTC days';
            RETURN;
        END IF;
    END IF;
    IF stale IS NOT NULL THEN
        reason := pg_catalog.format('summaries in another zone than %s: %s', time_zone, pg_catalog.left(stale, 1000));
        RETURN;
    END IF;

    -- Whole local days of that zone.
    IF report_path.range IS NOT NULL AND NOT pg_catalog.lower_inf(report_path.range) THEN
        b := pg_catalog.timezone(time_zone, pg_catalog.lower(report_path.range));
        IF NOT pg_catalog.lower_inc(report_path.range) OR b <> pg_catalog.date_trunc('day', b) THEN
            reason := pg_catalog.format('range does not start at a local midnight in %s', time_zone);
            RETURN;
        END IF;
        first_day := b::pg_catalog.date;
    END IF;
    IF report_path.range IS NOT NULL AND NOT pg_catalog.upper_inf(report_path.range) THEN
        b := pg_catalog.timezone(time_zone, pg_catalog.upper(report_path.range));
        IF pg_catalog.upper_inc(report_path.range) OR b <> pg_catalog.date_trunc('day', b) THEN
            reason := pg_catalog.format('range does not end at a local midnight in %s', time_zone);
            RETURN;
        END IF;
        end_day := b::pg_catalog.date;
    END IF;
    path := 'summaries';
    reason := pg_catalog.format('whole local days in %s (zone from %s)', time_zone, src);
END
$$;
COMMENT ON FUNCTION sessions.report_path(tstzrange, text, float8, text, boolean, text[]) IS
  'Which path daily_report / summary_report take for these arguments (summaries or scan) and why; time_zone, first_day, end_day (exclusive) and namespaces the summary path reads';

/*
 * summary_stats
 *		The report's session_stats summed from the live summaries when
 *		report_path says 'summaries', else NULL (the report then scans). The
 *		summed counters go through the type's text input, so the reports'
 *		columns come from the same days() / totals() as the scan's; the kWh
 *		of a day is the exact decimal sum rounded once to float8.
 */
CREATE FUNCTION sessions.summary_stats(
    range tstzrange, tz text, micro_threshold float8, site text, include_active boolean, sites text[])
RETURNS sessions.session_stats
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    p    record;
    body pg_catalog.text;
BEGIN
    p := sessions.report_path($1, $2, $3, $4, $5, $6);
    IF p.path <> 'summaries' THEN
        RETURN NULL;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format(' | %s %s %s %s %s %s %s %s %s %s %s',
               pg_catalog.to_char(x.day, 'YYYY-MM-DD'), x.active, x.completed, x.empty, x.micro, x.normal,
               x.green, x.orange, x.red, x.kwh, x.duration), '' ORDER BY x.day)
      INTO body
      FROM (SELECT d.day,
                   CASE WHEN summary_stats.include_active THEN pg_catalog.sum(d.active) ELSE 0 END AS active,
                   pg_catalog.sum(d.completed) AS completed, pg_catalog.sum(d.empty) AS empty,
                   pg_catalog.sum(d.micro) AS micro, pg_catalog.sum(d.normal) AS normal,
                   pg_catalog.sum(d.green) AS green, pg_catalog.sum(d.orange) AS orange, pg_catalog.sum(d.red) AS red,
                   pg_catalog.sum(d.kwh) AS kwh, pg_catalog.sum(d.duration) AS duration
              FROM sessions.summary_delta d
             WHERE d.namespace = ANY (p.namespaces)
               AND d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
               AND (p.first_day IS NULL OR d.day >= p.first_day) AND (p.end_day IS NULL OR d.day < p.end_day)
               AND (summary_stats.site IS NULL OR d.site = summary_stats.site)
               AND (summary_stats.sites IS NULL OR d.site = ANY (summary_stats.sites))
             GROUP BY d.day) x
     WHERE x.completed <> 0 OR x.active <> 0;
    RETURN (pg_catalog.format('v1 tz=%s micro=%s volts=%s good=%s fair=%s', p.time_zone,
                              summary_stats.micro_threshold,
                              sessions.analytics_setting('volts'),
                              sessions.analytics_setting('good_amps'),
                              sessions.analytics_setting('fair_amps'))
            OPERATOR(pg_catalog.||) COALESCE(body, ''))::sessions.session_stats;
END
$$;
COMMENT ON FUNCTION sessions.summary_stats(tstzrange, text, float8, text, boolean, text[]) IS
  'The session_stats of a daily/summary report read from the live summaries, or NULL when the report must scan (sessions.report_path says why)';

REVOKE ALL ON FUNCTION sessions.time_zone_source(), sessions.report_path(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_stats(tstzrange, text, float8, text, boolean, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.time_zone_source(), sessions.report_path(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_stats(tstzrange, text, float8, text, boolean, text[]) TO session_analytics_reader;

/*
 * report_stats
 *		The session_stats of a report's selection by the path report_path
 *		says: summed from the live summaries (summary_stats) when they answer
 *		exactly, else aggregated over the store's rows of report_sessions in
 *		the report's zone. daily_report, summary_report and session-report's
 *		chart all read it, so they take one path for the same arguments. An
 *		empty selection is NULL on both paths, as an aggregate over no rows
 *		is. The zone is resolved here, once, on the node the report runs on,
 *		and passed with micro_threshold into the aggregate as values (a Citus
 *		worker sees neither the caller's settings nor its TimeZone).
 *		PL/pgSQL with the store named in the query (not the inlined
 *		report_sessions): Citus plans a query on a distributed table only
 *		when it names the table, and binds the parameters of PL/pgSQL
 *		statements but not of SQL functions; the aggregate then runs as
 *		partial aggregates on the workers (docs/scale-out.md). The WHERE
 *		clause is report_sessions'.
 */
CREATE FUNCTION sessions.report_stats(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
RETURNS sessions.session_stats
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
-- No JIT: the scan is faster without it (docs/summaries.md).
SET jit = off
AS $$
DECLARE
    st   sessions.session_stats;
    zone pg_catalog.text;
BEGIN
    st := sessions.summary_stats($1, $2, $3, $4, $5, $6);
    IF st IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM sessions.days(st)) THEN
            RETURN NULL;
        END IF;
        RETURN st;
    END IF;
    zone := (SELECT z.time_zone FROM sessions.report_time_zone($1, $4, $6, NULL, $2) z);
    SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, zone, $3) INTO st
      FROM sessions.store s
     WHERE s.kind OPERATOR(pg_catalog.=) ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
       AND s.started_at IS NOT NULL
       AND ($1 IS NULL OR ($1 OPERATOR(pg_catalog.@>) s.started_at
            AND s.started_at OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.lower($1), '-infinity'::pg_catalog.timestamptz)
            AND s.started_at OPERATOR(pg_catalog.<=) COALESCE(pg_catalog.upper($1), 'infinity'::pg_catalog.timestamptz)))
       AND ($4 IS NULL OR s.site OPERATOR(pg_catalog.=) $4)
       AND ($6 IS NULL OR s.site OPERATOR(pg_catalog.=) ANY ($6))
       AND ($5 OR s.ended_at IS NOT NULL);
    RETURN st;
END
$$;
COMMENT ON FUNCTION sessions.report_stats(tstzrange, text, float8, text, boolean, text[]) IS
  'The session_stats of a report''s selection (arguments as daily_report): from the live summaries when sessions.report_path says so, else a scan of report_sessions'' rows, zone and micro_threshold passed as values (partial aggregates on Citus workers); what daily_report, summary_report and session-report''s chart read';

/*
 * report_sites
 *		The distinct sites (NULL for sessions without one) of a report's
 *		selection, by the same path as report_stats: the summary keys of the
 *		report's days with a completed session (or an active one with
 *		include_active) when report_path says 'summaries', else the scan.
 *		The site line of session-report's combined summary. micro_threshold
 *		only decides the path (and is checked as the reports check it).
 *		All time (range NULL) is read from the summaries whenever they are
 *		kept and report_summaries is on, whatever the zones and parameters:
 *		every session is on some day in any zone, and a site's name does not
 *		depend on how its sessions are classified; session-report's --site
 *		look-up asks that.
 */
CREATE FUNCTION sessions.report_sites(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    IF report_sites.micro_threshold IS NOT NULL THEN
        -- refused as the reports refuse it (not finite, not > 0)
        PERFORM sessions.classify(0, report_sites.micro_threshold);
    END IF;
    IF report_sites.range IS NULL
       AND pg_catalog.lower(COALESCE(pg_catalog.current_setting('session_analytics.report_summaries', true), 'on'))
           NOT IN ('off', 'false', 'no', '0')
       AND (SELECT COALESCE(c.enabled, true) FROM (SELECT 1) one LEFT JOIN sessions.summary_config c ON c.id) THEN
        IF report_sites.tz IS NOT NULL THEN
            -- refused as report_path refuses it (no exception block: parallel safe)
            PERFORM pg_catalog.timezone(report_sites.tz, pg_catalog.now());
        END IF;
        RETURN QUERY
        SELECT d.site
          FROM sessions.summary_delta d
         WHERE d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
           AND (report_sites.site IS NULL OR d.site = report_sites.site)
           AND (report_sites.sites IS NULL OR d.site = ANY (report_sites.sites))
         GROUP BY d.site
        HAVING pg_catalog.sum(d.completed) <> 0
            OR (report_sites.include_active AND pg_catalog.sum(d.active) <> 0);
        RETURN;
    END IF;
    p := sessions.report_path($1, $2, $3, $4, $5, $6);
    IF p.path = 'summaries' THEN
        RETURN QUERY
        SELECT d.site
          FROM sessions.summary_delta d
         WHERE d.namespace = ANY (p.namespaces)
           AND d.kind = ANY (ARRAY['ocpi', 'powerflex']::pg_catalog.text[])
           AND (p.first_day IS NULL OR d.day >= p.first_day) AND (p.end_day IS NULL OR d.day < p.end_day)
           AND (report_sites.site IS NULL OR d.site = report_sites.site)
           AND (report_sites.sites IS NULL OR d.site = ANY (report_sites.sites))
         GROUP BY d.site
        HAVING pg_catalog.sum(d.completed) <> 0
            OR (report_sites.include_active AND pg_catalog.sum(d.active) <> 0);
    ELSE
        RETURN QUERY
        SELECT DISTINCT s.site FROM sessions.report_sessions($1, $4, $5, $6) s;
    END IF;
END
$$;
COMMENT ON FUNCTION sessions.report_sites(tstzrange, text, float8, text, boolean, text[]) IS
  'The distinct sites (NULL: sessions without one) of a report''s selection (arguments as daily_report), from the live summaries when sessions.report_path says so (all time, range NULL: whenever the summaries are kept and report_summaries is on), else a scan; the site line of session-report''s combined summary and its --site look-up';
REVOKE ALL ON FUNCTION sessions.report_stats(tstzrange, text, float8, text, boolean, text[]),
    sessions.report_sites(tstzrange, text, float8, text, boolean, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.report_stats(tstzrange, text, float8, text, boolean, text[]),
    sessions.report_sites(tstzrange, text, float8, text, boolean, text[]) TO session_analytics_reader;

CREATE OR REPLACE FUNCTION sessions.daily_report(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
RETURNS TABLE(day date, sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
-- No JIT: it compiled the never-run scan of a summary answer (4.6 -> 25 ms
-- at 5M sessions) and made the scan itself slower (docs/summaries.md).
SET jit = off
AS $$
    SELECT d.* FROM sessions.days(sessions.report_stats($1, $2, $3, $4, $5, $6)) d
$$;

CREATE OR REPLACE FUNCTION sessions.summary_report(
    range tstzrange,
    tz text DEFAULT NULL,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'),
    site text DEFAULT NULL,
    include_active boolean DEFAULT false,
    sites text[] DEFAULT NULL)
RETURNS TABLE(sessions bigint, active bigint, completed bigint, empty bigint, micro bigint,
              normal bigint, empty_pct float8, micro_pct float8, kwh float8, avg_duration interval,
              green bigint, orange bigint, red bigint, combined bigint, combined_pct float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, sessions, pg_temp
-- No JIT: it compiled the never-run scan of a summary answer (4.6 -> 25 ms
-- at 5M sessions) and made the scan itself slower (docs/summaries.md).
SET jit = off
AS $$
    SELECT COALESCE(t.sessions, 0), COALESCE(t.active, 0), COALESCE(t.completed, 0),
           COALESCE(t.empty, 0), COALESCE(t.micro, 0), COALESCE(t.normal, 0),
           t.empty_pct, t.micro_pct, COALESCE(t.kwh, 0), t.avg_duration,
           COALESCE(t.green, 0), COALESCE(t.orange, 0), COALESCE(t.red, 0),
           COALESCE(t.combined, 0), t.combined_pct
      FROM (SELECT sessions.report_stats($1, $2, $3, $4, $5, $6) AS st) a
      LEFT JOIN LATERAL sessions.totals(a.st) t ON true
$$;

/*
 * maintenance
 *		What the background worker runs each interval; returns a summary.
 *		compact_summaries (50_summaries.sql) keeps the live summaries at one
 *		row per site, kind and day.
 */
CREATE OR REPLACE FUNCTION sessions.maintenance()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    citus_worker boolean := false;
BEGIN
    -- On a Citus worker the store's rows are the cluster's, expired by the
    -- coordinator's round: expiry runs once per cluster (docs/scale-out.md).
    IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        EXECUTE 'SELECT NOT pg_catalog.citus_is_coordinator()' INTO citus_worker;
    END IF;
    RETURN pg_catalog.jsonb_build_object('expired', CASE WHEN citus_worker THEN 0 ELSE sessions.expire_sessions() END,
                              'events_pruned', sessions.prune_events(),
                              'summaries_compacted', CASE WHEN citus_worker THEN 0 ELSE sessions.compact_summaries() END,
                              'at', pg_catalog.now());
END
$$;
COMMENT ON FUNCTION sessions.maintenance() IS
  'Periodic housekeeping run by the expiry worker (expire_sessions(), prune_events(), compact_summaries()); returns {"expired": n, "events_pruned": n, "summaries_compacted": n, "at": time}; on a Citus worker it expires and compacts nothing (the coordinator does)';

-- Summaries of the sessions stored before this update.
SELECT sessions.rebuild_summaries(NULL);

-- Bulk OCPI PUT (issue 14).
CREATE FUNCTION sessions.ocpi_put_many(country_code text, party_id text, docs jsonb[],
                                       version text DEFAULT '2.2.1')
RETURNS TABLE (ordinality integer, session_id text, sqlstate text, status_code integer,
               message text, detail text)
AS 'MODULE_PATHNAME', 'sa_ocpi_put_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sessions.ocpi_put_many(text, text, jsonb[], text) IS
  'Bulk OCPI PUT of many Sessions of one party in one upsert: one row per document (ordinality, id, SQLSTATE, OCPI status code 1000 or 2001, and for a refused document the errmsg and errdetail ocpi_put would raise); refused documents are not stored and do not stop the others; of repeated ids the last valid one is stored';
REVOKE ALL ON FUNCTION sessions.ocpi_put_many(text, text, jsonb[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.ocpi_put_many(text, text, jsonb[], text) TO session_analytics_writer;

-- PowerFlex row check in C (issue 14): same rules and reasons, a quarter of
-- the cost per row; STABLE (TimeZone) and PARALLEL UNSAFE (subtransaction).
CREATE OR REPLACE FUNCTION sessions.powerflex_row_problem(r jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_powerflex_row_problem'
LANGUAGE C STABLE PARALLEL UNSAFE;

-- import_powerflex's rows in one pass, in C (issue 14): checked, typed and
-- de-duplicated; writers execute it (import_powerflex runs as the caller).
CREATE FUNCTION sessions.powerflex_rows(rows jsonb, base bigint DEFAULT 0, site text DEFAULT NULL)
RETURNS TABLE("position" bigint, namespace text, problem text, external_id text, status text,
              started_at timestamptz, ended_at timestamptz, kwh float8, user_ref text,
              site_value text, last_updated timestamptz, r jsonb)
AS 'MODULE_PATHNAME', 'sa_powerflex_rows'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) IS
  'The rows of a PowerFlex export as import_powerflex stores them, in order: position, namespace, problem (NULL when the row is stored; earlier duplicates of a session_id are problems) and the typed store columns of each valid row';
REVOKE ALL ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) TO session_analytics_writer;

-- 40_telemetry: current_sessions in PL/pgSQL, whose statements' parameters
-- Citus binds (docs/scale-out.md).
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
REVOKE ALL ON FUNCTION sessions.current_sessions_rows(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.current_sessions_rows(text, boolean) TO session_analytics_reader;

CREATE OR REPLACE FUNCTION sessions.current_sessions(data_source text DEFAULT NULL, include_complete boolean DEFAULT false)
RETURNS TABLE (key uuid, data_source text, identifier text, type text,
               creation_time timestamptz, termination_time timestamptz, is_complete boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
    SELECT * FROM sessions.current_sessions_rows($1, $2)
$$;

-- 10_ocpi: the preferences' stamp comes in with the row (Citus refuses now()
-- in DO UPDATE SET of a distributed table).
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

    -- The stamp comes in with the row: Citus allows no non-IMMUTABLE
    -- function in DO UPDATE SET of a distributed table (docs/scale-out.md).
    INSERT INTO sessions.ocpi_charging_preferences AS p (session_key, namespace, preferences, updated_at)
    VALUES (s.session_key, s.namespace, ocpi_put_charging_preferences.preferences, pg_catalog.now())
    ON CONFLICT ON CONSTRAINT ocpi_charging_preferences_pkey
    DO UPDATE SET preferences = excluded.preferences, updated_at = excluded.updated_at;
    RETURN 'ACCEPTED';
END;
$$;

-- 40_telemetry: the row locked by its whole key after an unlocked probe for the
-- namespace (Citus locks only with the distribution column named).
CREATE OR REPLACE FUNCTION sessions.telemetry_row(p_key uuid, p_data_source text, p_for_change boolean)
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

-- 41_lifecycle: the row locked by its whole key after an unlocked probe for the
-- namespace (Citus locks only with the distribution column named).
CREATE OR REPLACE FUNCTION sessions.invoice_row(p_reference text)
RETURNS sessions.store
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    x sessions.store;
    ns pg_catalog.text;
    n pg_catalog.int4 := 0;
BEGIN
    IF coalesce(p_reference, '') = '' THEN
        RAISE EXCEPTION 'reference must not be empty' USING ERRCODE = '22023';
    END IF;
    -- References are unique within a type only: a role that sees two types
    -- may see one reference twice, and must not act on either by chance.
    -- The types (namespaces) first, up to two, without a lock; then each row
    -- locked by its whole key: Citus locks only in a query that names the
    -- distribution column, and the unlocked probe asks every shard there
    -- (docs/scale-out.md, "Look-ups without the namespace"). No
    -- subtransaction (which would take a subxid per call).
    FOREACH ns IN ARRAY ARRAY(SELECT s.namespace FROM sessions.store s
                               WHERE s.kind = 'invoice' AND s.external_id = p_reference LIMIT 2) LOOP
        SELECT * INTO x FROM sessions.store s
         WHERE s.namespace = ns AND s.kind = 'invoice' AND s.external_id = p_reference
           FOR UPDATE;
        IF x.session_key IS NOT NULL THEN
            n := n + 1;
            r := x;
        END IF;
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

-- 41_lifecycle: count_session_item without non-IMMUTABLE calls where Citus refuses them.
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
    -- The counters are built from the returned document: Citus allows no
    -- non-IMMUTABLE function (jsonb_build_object) in RETURNING.
    RETURNING s.doc INTO STRICT r.doc;
    RETURN pg_catalog.jsonb_build_object('invoice_count', (r.doc ->> 'invoice_count')::bigint,
                                         'successful', (r.doc ->> 'successful')::bigint,
                                         'failed', (r.doc ->> 'failed')::bigint);
END
$$;

-- 41_lifecycle: set_session_secret without non-IMMUTABLE calls where Citus refuses them.
CREATE OR REPLACE FUNCTION sessions.set_session_secret(reference text, secret bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    -- A value, not CURRENT_USER in the ON CONFLICT clause: Citus allows no
    -- non-IMMUTABLE function there.
    me pg_catalog.name := CURRENT_USER;
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
         WHERE t.owner_role = me;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '42501';
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'session "%" has a secret stored by another role', reference USING ERRCODE = '42501';
    END;
END
$$;

-- 40_telemetry: the cycle check walks one level per query, associates()
-- and parents() in PL/pgSQL (Citus; docs/scale-out.md).
CREATE OR REPLACE FUNCTION sessions.telemetry_link(p_parent sessions.store, p_associate uuid)
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
CREATE OR REPLACE FUNCTION sessions.associates(session_key uuid)
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
CREATE OR REPLACE FUNCTION sessions.parents(session_key uuid)
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

-- 41_lifecycle: set_session_status computes the new values first (Citus).
CREATE OR REPLACE FUNCTION sessions.set_session_status(reference text, code int, description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    cur int;
    v_status pg_catalog.text;
    v_ended pg_catalog.timestamptz;
    v_patch pg_catalog.jsonb;
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
    -- The new values from the locked row r (the row as stored): Citus
    -- allows no non-IMMUTABLE function inside CASE or COALESCE of an UPDATE.
    v_status := CASE WHEN cur = code THEN r.status ELSE sessions.invoice_status_name(code) END;
    v_ended := CASE WHEN code IN (100, 150) THEN r.ended_at ELSE coalesce(r.ended_at, greatest(pg_catalog.now(), r.started_at)) END;
    v_patch := pg_catalog.jsonb_build_object('status_code', code, 'description',
                   coalesce(description, CASE WHEN cur = code THEN r.doc ->> 'description' END,
                            sessions.invoice_status_description(code)));
    UPDATE sessions.store s
       SET status = v_status, ended_at = v_ended, last_updated = pg_catalog.now(), doc = s.doc || v_patch
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN sessions.session_status(reference);
END
$$;

-- 80_scale_out: sessions.distribute() (docs/scale-out.md) -------------------------

/*
 * distribute
 *		Distributes the extension's tables over the Citus cluster this
 *		database is the coordinator of, moving the rows they hold:
 *		  - by namespace, co-located with sessions.store: store,
 *		    ocpi_charging_preferences, telemetry_associate, invoice_secret,
 *		    session_lease, import_rejects, summary_delta;
 *		  - reference tables (a copy on every node): role_namespace (the RLS
 *		    map the workers read), site, lifecycle_key (the signing key,
 *		    bound to the database of every node: lifecycle_key_nodes),
 *		    summary_config (the shards' summary triggers read it there).
 *		The rest stays on the coordinator (event_log, event_prune_state,
 *		event_relay), where every call runs.
 *		The store's triggers (events, live summaries) are disabled before
 *		the rows move (so the copy writes no event and no summary delta);
 *		the event trigger is then enabled on the store's shards (each
 *		worker logs its shards' events, the relay copies them to the
 *		coordinator's log), and, when the live summaries are on, the
 *		summary triggers too (each shard appends to its co-located
 *		summary_delta shard; the moved delta rows keep the summaries
 *		exact). sessions.report_sessions becomes the
 *		PL/pgSQL form of its own SELECT (Citus cannot plan the inlined
 *		one). A reader gets EXECUTE on the aggregate's support functions on
 *		every node (Citus calls them as the caller). Run it again after adding
 *		a worker. Idempotent: a table already distributed
 *		is left as it is. Owner only (create_distributed_table needs the
 *		tables' owner).
 */
CREATE FUNCTION sessions.distribute()
RETURNS TABLE(relation regclass, distribution text)
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    t pg_catalog.text;
    summaries boolean;
    body pg_catalog.text;
    grants pg_catalog.text;
    coordinator boolean;
    nodes pg_catalog.jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION 'distribute: Citus is not loaded in this database'
              USING ERRCODE = '0A000',
                    DETAIL = 'sessions.distribute() shards the store over a Citus cluster; this database has no citus extension.',
                    HINT = 'Add citus to shared_preload_libraries on every node, run CREATE EXTENSION citus, register the workers (citus_add_node) and call sessions.distribute() on the coordinator (docs/scale-out.md).';
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO coordinator;
    IF NOT coordinator THEN
        RAISE EXCEPTION 'distribute: this node is not the Citus coordinator'
              USING ERRCODE = '55000',
                    HINT = 'Run sessions.distribute() on the coordinator; register it first with citus_set_coordinator_host() when it has no entry in pg_dist_node (docs/scale-out.md).';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_node n WHERE n.noderole = 'primary' AND n.groupid <> 0 AND n.isactive) THEN
        RAISE EXCEPTION 'distribute: the cluster has no active worker'
              USING ERRCODE = '55000',
                    HINT = 'Add the workers first: SELECT citus_add_node(host, port) on the coordinator.';
    END IF;
    -- First (Citus changes no function after a parallel distributed
    -- operation in the transaction): report_sessions, the reports' selection, is an inlined SQL function
    -- on one node; Citus cannot plan a query whose distributed table only
    -- appears once a function is inlined. On the cluster the same SELECT
    -- (its own text, from the catalog) runs as a PL/pgSQL RETURN QUERY, so
    -- session-report and report_time_zone keep working through it.
    IF (SELECT p.prolang FROM pg_catalog.pg_proc p
         WHERE p.oid = 'sessions.report_sessions(tstzrange, text, boolean, text[])'::pg_catalog.regprocedure)
       = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'sql') THEN
        body := pg_catalog.substring(
                    pg_catalog.pg_get_functiondef('sessions.report_sessions(tstzrange, text, boolean, text[])'::pg_catalog.regprocedure),
                    '(?s)BEGIN ATOMIC\s*(.*);\s*END\s*$');
        EXECUTE pg_catalog.format($f$CREATE OR REPLACE FUNCTION sessions.report_sessions(
                range tstzrange, site text DEFAULT NULL, include_active boolean DEFAULT false, sites text[] DEFAULT NULL)
            RETURNS SETOF sessions.store LANGUAGE plpgsql STABLE PARALLEL SAFE
            SET search_path = pg_catalog, sessions, pg_temp AS %L$f$, 'BEGIN RETURN QUERY ' || body || '; END');
    END IF;
    -- Citus runs an aggregate in pieces (worker_partial_agg on the workers,
    -- coord_combine_agg on the coordinator) and calls its support functions
    -- itself, as the caller: on a cluster a reader needs EXECUTE on them
    -- (on one node the server calls them, checked against the owner). On
    -- every node: the workers' copies of the extension are their own.
    grants := 'GRANT EXECUTE ON FUNCTION '
        'sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8), '
        'sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text), '
        'sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8), '
        'sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8), '
        'sessions.session_stats_combine(sessions.session_stats, sessions.session_stats), '
        'sessions.session_stats_final(sessions.session_stats) TO session_analytics_reader';
    EXECUTE grants;
    PERFORM pg_catalog.run_command_on_workers(grants);
    -- Each worker's own copy of the extension made a signing key of its own
    -- at CREATE EXTENSION, never read on the cluster (each node reads its
    -- placement of the coordinator's): cleared on that worker only (DDL
    -- propagation off; no Citus truncate trigger on a shell the extension
    -- script made), before this transaction locks the table there.
    FOR t IN SELECT w.nodename || ':' || w.nodeport || ': ' || w.result FROM pg_catalog.run_command_on_workers(
                 $c$DO $d$ BEGIN
                        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
                        PERFORM pg_catalog.set_config('lock_timeout', '10s', true);
                        TRUNCATE sessions.lifecycle_key;
                    END $d$ $c$) w
              WHERE NOT w.success LOOP
        RAISE EXCEPTION 'distribute: could not clear the shell table lifecycle_key on worker %', t USING ERRCODE = '55000';
    END LOOP;
    -- Rows are copied by Citus with the triggers off, so no event or
    -- summary delta is written twice; Citus creates and alters the
    -- triggers of the shards with the store's (unsafe_triggers).
    SET LOCAL citus.enable_unsafe_triggers = on;
    -- Citus's NOTICEs about copying and leftover local data: handled here.
    SET LOCAL client_min_messages = warning;
    -- Live summaries stay as they are: on (the summary_delta rows move with
    -- the store, already exact) or off. Read before summary_config moves.
    summaries := (SELECT g.enabled FROM sessions.summary_settings() g);
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'sessions.store'::pg_catalog.regclass) THEN
        ALTER TABLE sessions.store DISABLE TRIGGER store_events, DISABLE TRIGGER summary_insert,
            DISABLE TRIGGER summary_update, DISABLE TRIGGER summary_delete, DISABLE TRIGGER summary_truncate;
        ALTER TABLE sessions.site DISABLE TRIGGER summary_zone;
    END IF;
    -- summary_config: the shards' summary triggers on the workers read the
    -- settings from their node's placement. Its row is copied without
    -- applying it again (the trigger would rebuild on every placement).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'sessions.summary_config'::pg_catalog.regclass) THEN
        ALTER TABLE sessions.summary_config DISABLE TRIGGER summary_apply;
    END IF;
    -- site's rows were checked when written: copied into the placements
    -- without site_check, whose exception block (a subtransaction) Citus
    -- cannot run while it copies to the workers (a zone set before
    -- distribute() failed it with "another command is already in progress").
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = 'sessions.site'::pg_catalog.regclass) THEN
        ALTER TABLE sessions.site DISABLE TRIGGER site_check;
    END IF;
    FOREACH t IN ARRAY ARRAY['role_namespace', 'site', 'lifecycle_key', 'summary_config'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                        WHERE p.logicalrelid = pg_catalog.format('sessions.%I', t)::pg_catalog.regclass) THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.create_reference_table(%L)', 'sessions.' || t);
        END IF;
    END LOOP;
    -- The signing key: one row on every node (a node added since gets its
    -- copy now), bound to this database's OID on each node. Nodes bound
    -- already keep their entry and the key stays: what was signed stays
    -- valid, and a copy of the database stays refused (docs/lifecycle.md).
    PERFORM pg_catalog.replicate_reference_tables('block_writes');
    nodes := sessions.lifecycle_key_nodes();
    UPDATE sessions.lifecycle_key k SET node_databases = nodes OPERATOR(pg_catalog.||) coalesce(k.node_databases, '{}')
     WHERE k.node_databases IS DISTINCT FROM nodes OPERATOR(pg_catalog.||) coalesce(k.node_databases, '{}');
    -- A foreign key between distributed tables must include the
    -- distribution column: a link's associate end (another namespace's
    -- session) cannot be one, telemetry_link checks it instead.
    IF EXISTS (SELECT FROM pg_catalog.pg_constraint c WHERE c.conname = 'telemetry_associate_child_fkey'
                AND c.conrelid = 'sessions.telemetry_associate'::pg_catalog.regclass) THEN
        ALTER TABLE sessions.telemetry_associate DROP CONSTRAINT telemetry_associate_child_fkey;
    END IF;
    FOREACH t IN ARRAY ARRAY['store', 'ocpi_charging_preferences', 'telemetry_associate', 'invoice_secret',
                             'session_lease', 'import_rejects', 'summary_delta'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
                        WHERE p.logicalrelid = pg_catalog.format('sessions.%I', t)::pg_catalog.regclass) THEN
            EXECUTE pg_catalog.format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                                      'sessions.' || t, 'namespace', CASE WHEN t = 'store' THEN 'default' ELSE 'sessions.store' END);
        END IF;
    END LOOP;
    -- The moved rows stay on the coordinator's disk, invisible, until
    -- truncated (without firing any trigger: Citus truncates the shell).
    FOR t IN SELECT c.relname FROM pg_catalog.pg_dist_partition p
               JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
              WHERE c.relnamespace = 'sessions'::pg_catalog.regnamespace
                AND pg_catalog.pg_relation_size(c.oid) > 0 LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.truncate_local_data_after_distributing_table(%L)', 'sessions.' || t);
    END LOOP;
    -- Events from now on: the trigger fires on the shards (on every
    -- worker, into its own log; sessions.relay_events copies them here).
    -- Enabled after the move, so the moved rows logged none; again on every
    -- run (a no-op once on).
    ALTER TABLE sessions.store ENABLE TRIGGER store_events;
    -- The live summaries, when on: the summary triggers fire on the shards
    -- from now on (each appends to its co-located summary_delta shard) and
    -- a zone change of site rebuilds through the coordinator (as on one
    -- node, also while off). Off, the store's stay disabled.
    ALTER TABLE sessions.summary_config ENABLE TRIGGER summary_apply;
    ALTER TABLE sessions.site ENABLE TRIGGER site_check;
    ALTER TABLE sessions.site ENABLE TRIGGER summary_zone;
    IF summaries THEN
        ALTER TABLE sessions.store ENABLE TRIGGER summary_insert;
        ALTER TABLE sessions.store ENABLE TRIGGER summary_update;
        ALTER TABLE sessions.store ENABLE TRIGGER summary_delete;
        ALTER TABLE sessions.store ENABLE TRIGGER summary_truncate;
    END IF;
    RETURN QUERY
        SELECT c.oid::pg_catalog.regclass,
               CASE p.partmethod WHEN 'h' THEN 'distributed by ' || pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
                                 WHEN 'n' THEN 'reference' ELSE 'local' END
          FROM pg_catalog.pg_class c
          LEFT JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = c.oid
         WHERE c.relnamespace = 'sessions'::pg_catalog.regnamespace AND c.relkind = 'r'
         ORDER BY 2, c.relname;
END
$$;
COMMENT ON FUNCTION sessions.distribute() IS
  'Citus coordinator: distributes the store and the tables of its sessions by namespace (co-located) and role_namespace, site, lifecycle_key, summary_config as reference tables (the signing key bound to every node''s database), moving their rows without events or summary deltas, then logs the shards'' events (relayed to this log) and keeps the live summaries on the shards when on; idempotent; returns each table''s distribution (owner only)';
REVOKE ALL ON FUNCTION sessions.distribute() FROM PUBLIC;

-- The event relay (docs/scale-out.md, "Events"): on a cluster each worker
-- logs the events of the shards it holds in its own sessions.event_log; the
-- coordinator copies them into its log, which is then the cluster's log.
-- One row per worker: the last worker seq copied, and the identity of the
-- worker's log it belongs to (a new log is relayed from its start).
CREATE TABLE sessions.event_relay (
    nodename    text        NOT NULL,
    nodeport    int         NOT NULL,
    last_seq    bigint      NOT NULL DEFAULT 0,
    log_id      text,
    relayed_at  timestamptz,
    CONSTRAINT event_relay_pkey PRIMARY KEY (nodename, nodeport)
);
COMMENT ON TABLE sessions.event_relay IS
  'Citus coordinator: per worker, the last seq of its event log copied into this log (written with the copies, in one transaction)';
-- Positions survive dump/restore with the log they were copied into.
SELECT pg_catalog.pg_extension_config_dump('sessions.event_relay', '');
REVOKE ALL ON sessions.event_relay FROM PUBLIC;

CREATE FUNCTION sessions.relay_events(max_rows int DEFAULT 1000)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'sa_relay_events';
COMMENT ON FUNCTION sessions.relay_events(int) IS
  'Citus coordinator: copies up to max_rows final events of each worker''s log into this log, in one transaction with the positions; returns their number (the relay worker runs it per worker; owner only)';
REVOKE ALL ON FUNCTION sessions.relay_events(int) FROM PUBLIC;

-- Session keys are version 7 UUIDs (time first), so the primary key grows
-- at its right edge (issue 14). Stored keys (version 4) stay as they are.
CREATE FUNCTION sessions.new_session_key()
RETURNS uuid
LANGUAGE C VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sa_new_session_key';
COMMENT ON FUNCTION sessions.new_session_key() IS
  'A new session key: a version 7 UUID (RFC 9562: Unix milliseconds, their fraction, 62 random bits), increasing within a backend; the default of sessions.store.session_key';
REVOKE ALL ON FUNCTION sessions.new_session_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.new_session_key() TO session_analytics_writer;
ALTER TABLE sessions.store ALTER COLUMN session_key SET DEFAULT sessions.new_session_key();
COMMENT ON COLUMN sessions.store.session_key IS 'Database-allocated key (UUID; version 7 from 0.3.0 on, sessions.new_session_key())';

-- Only OCPI's list reads a last_updated window (kind = 'ocpi'), so only OCPI
-- rows are in that index: other kinds' writes maintain one index fewer
-- (issue 14). The new index is built over the stored OCPI rows.
DROP INDEX sessions.store_kind_last_updated_idx;
CREATE INDEX store_ocpi_last_updated_idx ON sessions.store (last_updated) WHERE kind = 'ocpi';

-- import_powerflex: a batch whose first, middle and last rows are not
-- stored is inserted without the ON CONFLICT arbiter, falling back to the
-- upsert on unique_violation (issue 14).
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
    v_stmt  pg_catalog.text;
    v_done  pg_catalog.bool := false;
    v_fresh pg_catalog.bool;
    probe   record;
    v_same  pg_catalog.bool := true;
    v_hit   pg_catalog.bool;
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

    -- One statement: rows checked and typed by powerflex_rows (of valid
    -- rows sharing a session_id the last one wins), skipped ones logged,
    -- the rest upserted in document order. The namespace: the site
    -- argument, else the row's site when it is a usable one (a string of at
    -- most 1000 bytes, not blank), else 'powerflex'; a rejected row is
    -- logged under it too. {conflict} stands for the store insert's
    -- conflict clause: the upsert, or nothing on the fast path below;
    -- {filter} for the look-up that leaves out unchanged rows, or nothing.
    v_stmt := $stmt$
    WITH c AS MATERIALIZED (
        SELECT * FROM sessions.powerflex_rows($1, $2, $3)
    ), logged AS (
        INSERT INTO sessions.import_rejects (source, position, namespace, session_id, reason, row_doc)
        SELECT 'powerflex', c.position, c.namespace,
               CASE WHEN pg_catalog.jsonb_typeof(c.r) OPERATOR(pg_catalog.=) 'object'
                    THEN pg_catalog.left(c.r OPERATOR(pg_catalog.->>) 'session_id', 200) END,
               c.problem, c.r
          FROM c
         WHERE c.problem IS NOT NULL
        RETURNING import_rejects.position, import_rejects.session_id, import_rejects.reason
    ), up AS (
        INSERT INTO sessions.store AS s
               (kind, namespace, external_id, status, started_at, ended_at, kwh,
                user_ref, site, last_updated, doc)
        SELECT 'powerflex', c.namespace, c.external_id, c.status, c.started_at, c.ended_at, c.kwh,
               c.user_ref, c.site_value, c.last_updated, c.r
          FROM c
         WHERE c.problem IS NULL {filter}
         ORDER BY c.position
        {conflict}
        RETURNING (s.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid) AS inserted
    ), sites AS (
        -- Each namespace stored becomes a site: the export names it but
        -- has no zone, so only the display name is filled (when missing).
        -- A site that has one is left out before ON CONFLICT would lock
        -- its row, which made concurrent imports into one site wait for
        -- each other's commit.
        INSERT INTO sessions.site AS t (namespace, display_name)
        SELECT d.namespace, d.namespace
          FROM (SELECT DISTINCT c.namespace FROM c WHERE c.problem IS NULL) d
         WHERE NOT EXISTS (SELECT FROM sessions.site n
                            WHERE n.namespace OPERATOR(pg_catalog.=) d.namespace AND n.display_name IS NOT NULL)
        ON CONFLICT ON CONSTRAINT site_pkey DO UPDATE SET display_name = EXCLUDED.display_name
         WHERE t.display_name IS NULL
    )
    SELECT (SELECT pg_catalog.count(*) FILTER (WHERE up.inserted) FROM up),
           -- every stored row that was not inserted was there: updated or unchanged
           (SELECT pg_catalog.count(*) FROM c WHERE c.problem IS NULL)
               OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FILTER (WHERE up.inserted) FROM up),
           (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('position', l.position, 'session_id', l.session_id,
                                                         'reason', l.reason) ORDER BY l.position), '[]')
              FROM logged l)
    $stmt$;

    -- The probes: the batch's first, middle and last rows, looked up in
    -- the store. One look-up per probed row: a router query on a Citus
    -- cluster, which does not plan a join of the store with the function's
    -- rows.
    -- - None of them stored (a new export): the fast path. The batch is
    --   inserted without the ON CONFLICT arbiter, whose probe of
    --   store_external_key before each row costs about a third of a new
    --   row's insert (docs/benchmarks.md, issue 14). A row that is stored
    --   after all (or is being stored by another transaction) makes the
    --   insert fail with unique_violation; the subtransaction takes back
    --   everything the attempt wrote, its events and summary changes
    --   included, and the upsert below runs instead.
    -- - All of them stored and unchanged (the same export again): the
    --   upsert leaves out the rows whose stored version is byte for byte
    --   the same (the {filter} look-up). The upsert would not write them
    --   either, but ON CONFLICT locks each one before it compares, which
    --   writes the row's page and WAL. A row a concurrent transaction
    --   changes after the statement's snapshot is left to that change, as
    --   if this import had run first. Not on Citus, which cannot plan that
    --   correlated look-up against the function's rows. The look-up is a
    --   scalar sub-select, which always runs once per row by the whole
    --   key: as NOT EXISTS it could become a join, and when the store's
    --   statistics say it is empty (emptied and vacuumed, not analyzed
    --   since) the planner joined each row to a scan of every PowerFlex
    --   row, minutes per batch (docs/benchmarks.md, issue 14).
    -- - Otherwise the upsert alone.
    -- The outcome is the upsert's either way; a wrong guess costs time
    -- (one attempt of the batch, or one look-up per row). The probe's and
    -- the filter's comparison name the columns the upsert sets and compares:
    -- a column added there belongs in all four lists, or the filter leaves
    -- out rows that changed in it.
    v_fresh := true;
    FOR probe IN SELECT p.*
                   FROM sessions.powerflex_rows(
                            pg_catalog.jsonb_build_array(v_rows OPERATOR(pg_catalog.->) 0,
                                v_rows OPERATOR(pg_catalog.->) (pg_catalog.jsonb_array_length(v_rows) OPERATOR(pg_catalog./) 2),
                                v_rows OPERATOR(pg_catalog.->) -1),
                            0, import_powerflex.site) p
                  WHERE p.problem IS NULL LOOP
        SELECT pg_catalog.record_image_eq(
                   ROW(s.status, s.started_at, s.ended_at, s.kwh, s.user_ref, s.site, s.last_updated, s.doc),
                   ROW(probe.status, probe.started_at, probe.ended_at, probe.kwh, probe.user_ref, probe.site_value,
                       probe.last_updated, probe.r))
          INTO v_hit
          FROM sessions.store s
         WHERE s.namespace OPERATOR(pg_catalog.=) probe.namespace AND s.kind OPERATOR(pg_catalog.=) 'powerflex'
           AND s.external_id OPERATOR(pg_catalog.=) probe.external_id;
        IF FOUND THEN
            v_fresh := false;
            v_same := v_same AND v_hit;
        ELSE
            v_same := false;
        END IF;
    END LOOP;
    v_stmt := pg_catalog.replace(v_stmt, '{filter}',
        CASE WHEN v_fresh OR NOT v_same OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN ''
             ELSE $filter$
           AND NOT COALESCE((SELECT pg_catalog.record_image_eq(
                                         ROW(o.status, o.started_at, o.ended_at, o.kwh, o.user_ref, o.site, o.last_updated, o.doc),
                                         ROW(c.status, c.started_at, c.ended_at, c.kwh, c.user_ref, c.site_value, c.last_updated, c.r))
                               FROM sessions.store o
                              WHERE o.namespace OPERATOR(pg_catalog.=) c.namespace AND o.kind OPERATOR(pg_catalog.=) 'powerflex'
                                AND o.external_id OPERATOR(pg_catalog.=) c.external_id), false)$filter$
        END);
    IF v_fresh THEN
        BEGIN
            EXECUTE pg_catalog.replace(v_stmt, '{conflict}', '')
               INTO n_new, n_upd, v_rejects USING v_rows, v_base, import_powerflex.site;
            v_done := true;
        EXCEPTION WHEN unique_violation THEN
            v_done := false;
        END;
    END IF;
    IF NOT v_done THEN
        -- A stored row the export repeats byte for byte (record_image_ne,
        -- the *<> operator, compares the values' binary images, so 1.0 and
        -- 1.00 in doc or -0 and 0 differ) is not written again: no new row
        -- version, index entries, events or summary changes. It counts as
        -- updated.
        EXECUTE pg_catalog.replace(v_stmt, '{conflict}', $upsert$
        ON CONFLICT (namespace, kind, external_id) DO UPDATE
           SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
               ended_at = EXCLUDED.ended_at, kwh = EXCLUDED.kwh,
               user_ref = EXCLUDED.user_ref, site = EXCLUDED.site,
               last_updated = EXCLUDED.last_updated, doc = EXCLUDED.doc
         WHERE pg_catalog.record_image_ne(
                   ROW(s.status, s.started_at, s.ended_at, s.kwh, s.user_ref, s.site, s.last_updated, s.doc),
                   ROW(EXCLUDED.status, EXCLUDED.started_at, EXCLUDED.ended_at, EXCLUDED.kwh,
                       EXCLUDED.user_ref, EXCLUDED.site, EXCLUDED.last_updated, EXCLUDED.doc))$upsert$)
           INTO n_new, n_upd, v_rejects USING v_rows, v_base, import_powerflex.site;
    END IF;

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
