-- session_analytics: sites and their time zones.
--
-- A site is a namespace of the store (a PowerFlex site, an OCPI party
-- CC-PID, a telemetry data source) with the time zone of its local days and
-- a name to show. The reports use the zone of the sites they cover when no
-- zone is passed (sessions.report_time_zone, 20_analytics.sql). Rows come
-- from sessions.import_powerflex (display name only: the export carries no
-- zone), sessions.ocpi_put_location (an OCPI Location's time_zone, for its
-- party) and sessions.set_site (by hand). docs/analytics.md, "Sites".

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
