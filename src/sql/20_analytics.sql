-- session_analytics: charging-session analytics.
--
-- Scalar functions (classification, average power and current, rating,
-- duration text, named date ranges), the flat summary type
-- sessions.session_stats with its aggregates and accessors, and thin report
-- functions over sessions.store. Defaults of thresholds, volts and amperes
-- come from the session_analytics.* settings, read by analytics_setting: the
-- GUC definitions in src/analytics_params.c are the only place a default
-- value is written.

-- ---- settings ------------------------------------------------------------------

-- A C function, so calling it loads the library (which defines the GUCs)
-- first: unlike current_setting(name, true), it never finds them missing.
CREATE FUNCTION sessions.analytics_setting(name text)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_analytics_setting'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.analytics_setting(text) IS
  'Value in force of the setting session_analytics.<name> (micro_threshold, volts, good_amps, fair_amps): the defaults of the analytics functions';
CREATE FUNCTION sessions.analytics_setting_default(name text)
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_analytics_setting_default'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.analytics_setting_default(text) IS
  'Built-in default of the setting session_analytics.<name> (micro_threshold, volts, good_amps, fair_amps), whatever is set: the live summaries'' parameters when none are configured';

-- ---- scalar functions -------------------------------------------------------

CREATE FUNCTION sessions.classify(
    kwh float8,
    micro_threshold float8 DEFAULT sessions.analytics_setting('micro_threshold'))
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
    volts float8 DEFAULT sessions.analytics_setting('volts'))
RETURNS float8
AS 'MODULE_PATHNAME', 'sa_average_current_a'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.average_current_a(float8, timestamptz, timestamptz, float8) IS
  'Average current in amperes at volts (average power / volts); NULL for an open session or a duration <= 0';

CREATE FUNCTION sessions.charge_rating(
    amps float8,
    good_a float8 DEFAULT sessions.analytics_setting('good_amps'),
    fair_a float8 DEFAULT sessions.analytics_setting('fair_amps'))
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
AS 'MODULE_PATHNAME', 'sa_session_stats_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_in(cstring) IS 'Text input of session_stats (validated)';
CREATE FUNCTION sessions.session_stats_out(sessions.session_stats) RETURNS cstring
AS 'MODULE_PATHNAME', 'sa_session_stats_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_out(sessions.session_stats) IS 'Text output of session_stats';
CREATE FUNCTION sessions.session_stats_recv(internal) RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_recv(internal) IS 'Binary input of session_stats (validated)';
CREATE FUNCTION sessions.session_stats_send(sessions.session_stats) RETURNS bytea
AS 'MODULE_PATHNAME', 'sa_session_stats_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION sessions.session_stats_trans(sessions.session_stats, timestamptz, timestamptz, float8, text, float8, float8)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_trans' LANGUAGE C PARALLEL SAFE;
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
AS 'MODULE_PATHNAME', 'sa_session_stats_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.session_stats_final(sessions.session_stats) IS
  'Final function of session_stats_agg and rollup: drops the spare day slots of the state';

CREATE FUNCTION sessions.session_stats_combine(sessions.session_stats, sessions.session_stats)
RETURNS sessions.session_stats
AS 'MODULE_PATHNAME', 'sa_session_stats_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
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
AS 'MODULE_PATHNAME', 'sa_days'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 366;
COMMENT ON FUNCTION sessions.days(sessions.session_stats) IS
  'One row per local day, ascending; percentages of completed sessions';

CREATE FUNCTION sessions.totals(sessions.session_stats,
    OUT sessions bigint, OUT active bigint, OUT completed bigint, OUT empty bigint, OUT micro bigint,
    OUT normal bigint, OUT empty_pct float8, OUT micro_pct float8, OUT kwh float8,
    OUT avg_duration interval, OUT green bigint, OUT orange bigint, OUT red bigint,
    OUT combined bigint, OUT combined_pct float8)
RETURNS record
AS 'MODULE_PATHNAME', 'sa_totals'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sessions.totals(sessions.session_stats) IS
  'The whole range in one row, plus combined = empty + micro and its percentage of completed sessions';

-- ---- live summaries: the reports' reader (tables and triggers: 50_summaries.sql) ----

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

-- ---- reports over the store --------------------------------------------------------

-- The one statement of which sessions a report covers, for report_time_zone,
-- the report functions below and session-report. An SQL function the
-- planner inlines into its caller (STABLE, not STRICT, no SET clause, no
-- SECURITY DEFINER), so the caller's plan is the one the filter written out
-- would get; it reads the store with the caller's row-level security.
-- BEGIN ATOMIC binds every name when it is created, so the caller's
-- search_path cannot redirect it. The redundant bounds on started_at let a
-- plan with a known range use store_started_at_idx (a btree serves them,
-- not @>). Sites match exactly: session-report resolves --site without
-- regard to case to the stored names first.
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
COMMENT ON FUNCTION sessions.report_time_zone(tstzrange, text, text[], text, text) IS
  'Zone of a report (time_zone) and why (source: argument, TimeZone set for the session/role/database, site, default = UTC, mixed = sites of different zones, UTC); site_zones lists the report''s sites and zones';

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

CREATE FUNCTION sessions.daily_report(
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
COMMENT ON FUNCTION sessions.daily_report(tstzrange, text, float8, text, boolean, text[]) IS
  'Charging sessions (ocpi, powerflex) of the store started in range (at site, or at one of sites), per local day: empty/micro/normal, kWh, durations, ratings; days in tz, else sessions.report_time_zone (the session''s TimeZone, the sites'' zone, UTC)';

CREATE FUNCTION sessions.summary_report(
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
COMMENT ON FUNCTION sessions.summary_report(tstzrange, text, float8, text, boolean, text[]) IS
  'Charging sessions (ocpi, powerflex) of the store started in range (at site, or at one of sites) in one row: SESHIS combined summary; zone as daily_report';

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

CREATE FUNCTION sessions.user_report(
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
COMMENT ON FUNCTION sessions.user_report(text, tstzrange, text, float8) IS
  'Charging sessions (ocpi, powerflex) per user (NULL user first), newest first: local start/end (tz, else sessions.report_time_zone), duration, kWh, average W and A, rating';

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
    sessions.analytics_setting(text),
    sessions.analytics_setting_default(text),
    sessions.session_stats_in(cstring),
    sessions.session_stats_out(sessions.session_stats),
    sessions.classify(float8, float8),
    sessions.average_power_w(float8, timestamptz, timestamptz),
    sessions.average_current_a(float8, timestamptz, timestamptz, float8),
    sessions.charge_rating(float8, float8, float8),
    sessions.format_duration(interval),
    sessions.date_range(text, text, timestamptz),
    sessions.report_sessions(tstzrange, text, boolean, text[]),
    sessions.report_time_zone(tstzrange, text, text[], text, text),
    sessions.time_zone_source(),
    sessions.report_path(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_stats(tstzrange, text, float8, text, boolean, text[]),
    sessions.report_stats(tstzrange, text, float8, text, boolean, text[]),
    sessions.report_sites(tstzrange, text, float8, text, boolean, text[]),
    sessions.session_stats_agg(timestamptz, timestamptz, float8),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8),
    sessions.session_stats_agg(timestamptz, timestamptz, float8, text, float8, float8),
    sessions.rollup(sessions.session_stats),
    sessions.days(sessions.session_stats),
    sessions.totals(sessions.session_stats),
    sessions.daily_report(tstzrange, text, float8, text, boolean, text[]),
    sessions.summary_report(tstzrange, text, float8, text, boolean, text[]),
    sessions.user_report(text, tstzrange, text, float8),
    sessions.user_report_rows(text, tstzrange, text, float8)
  TO session_analytics_reader;
