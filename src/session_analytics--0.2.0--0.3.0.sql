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

-- Issue 14: the log keeps one index (its primary key). Retention deletes the
-- oldest events in seq order (sessions.prune_events), so the BRIN index on
-- logged_at, maintained by every writer for every event, goes.
DROP INDEX sessions.event_log_logged_at_idx;
