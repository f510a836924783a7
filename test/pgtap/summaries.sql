-- Live summaries (docs/summaries.md): the property test. Four connections
-- (dblink) interleave every write path at random (seeded) — OCPI put and
-- patch, raw inserts, updates of kWh / end / status / start (moving days,
-- across midnights and the DST changes of the sites' zones) / namespace,
-- deletes, multi-row updates, PowerFlex imports re-run, telemetry and
-- invoice sessions, expiry — with transactions committed and rolled back,
-- compactions running beside open writers. After each round
-- check_summaries() must be empty and every report read from the summaries
-- must equal the same report from the scan: counts, durations and
-- percentages exactly, kWh within (n + 1) * 2^-52 * kWh (n = completed
-- sessions of the day: the bound of the scan's float summation order).
-- Then zone and parameter changes, switching off and on, and the errors.
--
-- Not in a transaction: the connections must see the setup.
SET client_min_messages = warning;
SELECT plan(93);

DO $$
BEGIN
    FOR i IN 1..4 LOOP
        PERFORM dblink_connect('c' || i, format('dbname=%s host=%s port=%s user=%s', current_database(),
                               split_part(current_setting('unix_socket_directories'), ',', 1),
                               current_setting('port'), current_user));
    END LOOP;
END
$$;

INSERT INTO sessions.site (namespace, time_zone) VALUES
    ('NL-TNM', 'Europe/Amsterdam'), ('US-EVX', 'America/New_York'), ('AU-LHI', 'Australia/Lord_Howe'),
    ('Plaza', 'America/Los_Angeles');
-- 'Depot' has no site row (UTC); 'Mall' a row without a zone (UTC).
INSERT INTO sessions.site (namespace, display_name) VALUES ('Mall', 'The mall');

-- Connection state and the ids each connection owns (no two connections
-- touch one row, so none waits for another: every dblink call returns).
CREATE TABLE pg_temp.conn (c int PRIMARY KEY, in_tx boolean NOT NULL DEFAULT false);
INSERT INTO pg_temp.conn SELECT i FROM generate_series(1, 4) i;
CREATE TABLE pg_temp.counter (n int NOT NULL);
CREATE TABLE pg_temp.failed (q text, err text);
CREATE TABLE pg_temp.compared (days int);
INSERT INTO pg_temp.counter VALUES (0);

CREATE FUNCTION pg_temp.next() RETURNS int LANGUAGE sql AS $$
    UPDATE pg_temp.counter SET n = n + 1 RETURNING n $$;
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql AS $$
    SELECT a[1 + floor(random() * cardinality(a))::int] $$;
-- A start near a midnight or a DST change of one of the zones.
CREATE FUNCTION pg_temp.start_at() RETURNS timestamptz LANGUAGE sql AS $$
    SELECT pg_temp.pick(ARRAY['2025-03-09 07:00+00', '2025-03-30 01:00+00', '2025-04-05 15:00+00', '2025-10-05 15:00+00',
                              '2025-10-26 01:00+00', '2025-11-02 06:00+00', '2025-06-30 22:00+00', '2025-07-01 04:00+00'])::timestamptz
           + (random() * 40 - 20) * interval '1 hour' $$;
CREATE FUNCTION pg_temp.kwh() RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN r < 0.1 THEN 'NULL' WHEN r < 0.25 THEN '0' WHEN r < 0.45 THEN (random() * 0.999)::text
                ELSE (random() * 60)::text END FROM (SELECT random() AS r) x $$;

-- One random statement for connection c.
CREATE FUNCTION pg_temp.write_sql(c int, in_tx boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
    n int := pg_temp.next();
    own text := format('c%s-%%', c);
    s timestamptz := pg_temp.start_at();
    lu text := to_char(timestamptz '2030-01-01 00:00+00' + n * interval '1 s', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
BEGIN
    IF r < 0.14 THEN
        RETURN (SELECT format($q$SELECT sessions.ocpi_put(%L, %L, %L, %L::jsonb)$q$, cc, pid, format('c%s-o%s', c, n),
            jsonb_build_object('country_code', cc, 'party_id', pid, 'id', format('c%s-o%s', c, n),
                'start_date_time', to_char(s, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'kwh', round((random() * 40)::numeric, 3),
                'cdr_token', jsonb_build_object('country_code', cc, 'party_id', 'TST', 'uid', 'U1', 'type', 'RFID', 'contract_id', 'C1'),
                'auth_method', 'WHITELIST', 'location_id', pg_temp.pick(ARRAY['L1', 'L2']), 'evse_uid', 'E1', 'connector_id', '1',
                'currency', 'EUR', 'status', 'ACTIVE', 'last_updated', lu))
          FROM (SELECT pg_temp.pick(ARRAY['NL-TNM', 'US-EVX', 'AU-LHI']) AS ns) x,
               LATERAL (SELECT split_part(x.ns, '-', 1) AS cc, split_part(x.ns, '-', 2) AS pid) y);
    ELSIF r < 0.26 THEN
        -- OCPI PATCH of one of this connection's OCPI sessions (if any): kWh grows, it ends, or a status.
        RETURN (SELECT format($q$SELECT sessions.ocpi_patch(%L, %L, %L, %L::jsonb)$q$, split_part(t.namespace, '-', 1),
                              split_part(t.namespace, '-', 2), t.external_id,
                              CASE WHEN random() < 0.4 THEN jsonb_build_object('kwh', round((random() * 50)::numeric, 3), 'last_updated', lu)
                                   WHEN random() < 0.7 THEN jsonb_build_object('end_date_time',
                                            to_char(t.started_at + random() * interval '30 hours', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                            'status', 'COMPLETED', 'last_updated', lu)
                                   ELSE jsonb_build_object('status', 'INVALID', 'last_updated', lu) END)
                  FROM pg_temp.owned t WHERE t.c = write_sql.c AND t.external_id LIKE 'C%-O%' ORDER BY random() LIMIT 1);
    ELSIF r < 0.42 THEN
        RETURN format($q$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site)
                         VALUES (%L, %L, %L, 'X', %L, %s, %s, %s)$q$,
                      pg_temp.pick(ARRAY['ocpi', 'powerflex', 'powerflex']),
                      pg_temp.pick(ARRAY['Depot', 'Mall', 'Plaza', 'NL-TNM', 'US-EVX', 'AU-LHI']), format('c%s-r%s', c, n), s,
                      CASE WHEN random() < 0.3 THEN 'NULL' ELSE quote_literal(s + random() * interval '30 hours') END,
                      pg_temp.kwh(), pg_temp.pick(ARRAY['NULL', quote_literal('L1'), quote_literal('L2')]));
    ELSIF r < 0.50 THEN
        RETURN format($q$UPDATE sessions.store SET kwh = %s WHERE external_id = (SELECT external_id FROM sessions.store
                         WHERE external_id ILIKE %L ORDER BY random() LIMIT 1)$q$, pg_temp.kwh(), own);
    ELSIF r < 0.57 THEN
        RETURN format($q$UPDATE sessions.store SET ended_at = CASE WHEN ended_at IS NULL THEN started_at + %L::interval END
                         WHERE external_id = (SELECT external_id FROM sessions.store WHERE external_id ILIKE %L ORDER BY random() LIMIT 1)$q$,
                      random() * interval '28 hours', own);
    ELSIF r < 0.63 THEN
        -- The session moves: across a midnight or a DST change.
        RETURN format($q$UPDATE sessions.store SET started_at = started_at + %1$L::interval, ended_at = ended_at + %1$L::interval
                         WHERE external_id = (SELECT external_id FROM sessions.store WHERE external_id LIKE %2$L ORDER BY random() LIMIT 1)$q$,
                      (random() * 30 - 15) * interval '1 hour', own);
    ELSIF r < 0.67 THEN
        RETURN format($q$UPDATE sessions.store SET namespace = %L, site = %s
                         WHERE external_id = (SELECT external_id FROM sessions.store WHERE external_id ILIKE %L AND kind = 'powerflex'
                                              ORDER BY random() LIMIT 1)$q$,
                      pg_temp.pick(ARRAY['Depot', 'Mall', 'Plaza', 'US-EVX']), pg_temp.pick(ARRAY['NULL', quote_literal('L1')]), own);
    ELSIF r < 0.71 THEN
        RETURN format($q$UPDATE sessions.store SET status = 'Y%s' WHERE external_id ILIKE %L$q$, n, own);
    ELSIF r < 0.75 THEN
        RETURN format($q$UPDATE sessions.store SET kwh = kwh * 1.5 WHERE external_id ILIKE %L AND kwh IS NOT NULL$q$, own);
    ELSIF r < 0.81 THEN
        RETURN format($q$DELETE FROM sessions.store WHERE external_id = (SELECT external_id FROM sessions.store
                         WHERE external_id ILIKE %L ORDER BY random() LIMIT 1)$q$, own);
    ELSIF r < 0.91 AND NOT in_tx THEN
        -- A PowerFlex export (in autocommit only: the import records its
        -- sites, and a second open import of one site would wait) of this connection's ids 1..6: re-runs update them.
        RETURN format($q$SELECT * FROM sessions.import_powerflex(%L::jsonb)$q$,
            (SELECT jsonb_agg(jsonb_build_object('session_id', format('c%s-p%s', c, i), 'session_kwh', round((random() * 20)::numeric, 4),
                     'session_start_time', (extract(epoch FROM st) * 1000)::bigint,
                     'session_end_time', CASE WHEN random() < 0.8 THEN (extract(epoch FROM st + random() * interval '20 hours') * 1000)::bigint END,
                     'status', 'FINISHED', 'site', pg_temp.pick(ARRAY['Depot', 'Plaza', 'Mall'])))
               FROM generate_series(1, 1 + floor(random() * 6)::int) i, LATERAL (SELECT pg_temp.start_at() AS st) z));
    ELSIF r >= 0.91 THEN
        -- Telemetry and invoice-style rows, some past their deadline for the expiry.
        RETURN format($q$INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, kwh, valid_until)
                         VALUES (%L, 'Depot', %L, 'ACTIVE', %L, %s, now() - interval '1 minute')$q$,
                      pg_temp.pick(ARRAY['telemetry', 'invoice']), format('c%s-t%s', c, n), s, pg_temp.kwh());
    END IF;
    RETURN NULL;
END
$$;

-- The ids of the sessions each connection has written (committed or its own).
CREATE TEMP VIEW owned AS
SELECT split_part(substr(s.external_id, 2), '-', 1)::int AS c, s.kind, s.namespace, s.external_id, s.started_at
  FROM sessions.store s WHERE s.external_id ~ '^C[0-9]-' OR s.external_id ~ '^c[0-9]-';

-- play(steps): random interleaving; every connection committed at the end.
CREATE FUNCTION pg_temp.play(steps int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    cn int;
    tx boolean;
    q text;
    r float8;
    ran int := 0;
BEGIN
    FOR i IN 1..steps LOOP
        cn := 1 + floor(random() * 4)::int;
        SELECT in_tx INTO tx FROM pg_temp.conn WHERE conn.c = cn;
        r := random();
        IF NOT tx AND r < 0.3 THEN
            PERFORM dblink_exec('c' || cn, 'BEGIN');
            UPDATE pg_temp.conn SET in_tx = true WHERE conn.c = cn;
        ELSIF tx AND r < 0.12 THEN
            PERFORM dblink_exec('c' || cn, 'COMMIT');
            UPDATE pg_temp.conn SET in_tx = false WHERE conn.c = cn;
        ELSIF tx AND r < 0.17 THEN
            PERFORM dblink_exec('c' || cn, 'ROLLBACK');
            UPDATE pg_temp.conn SET in_tx = false WHERE conn.c = cn;
        ELSIF r > 0.97 THEN
            -- Compaction beside open writers: their rows stay for later.
            PERFORM sessions.compact_summaries();
        ELSE
            q := pg_temp.write_sql(cn, tx);
            IF q IS NOT NULL THEN
                BEGIN
                    -- dblink_exec refuses a statement that returns rows
                    -- (after running it): read the results of SELECTs.
                    IF q LIKE 'SELECT%' THEN
                        PERFORM * FROM dblink('c' || cn, 'SELECT count(*) FROM (' || q || ') z') AS t(n bigint);
                    ELSE
                        PERFORM dblink_exec('c' || cn, q);
                    END IF;
                    ran := ran + 1;
                EXCEPTION WHEN OTHERS THEN
                    -- A refused write (a PATCH of a session this connection
                    -- deleted, say) aborts its transaction: roll it back.
                    INSERT INTO pg_temp.failed VALUES (q, SQLERRM);
                    IF tx THEN
                        PERFORM dblink_exec('c' || cn, 'ROLLBACK');
                        UPDATE pg_temp.conn SET in_tx = false WHERE conn.c = cn;
                    END IF;
                END;
            END IF;
        END IF;
    END LOOP;
    FOR k IN 1..4 LOOP
        IF (SELECT in_tx FROM pg_temp.conn WHERE conn.c = k) THEN
            PERFORM dblink_exec('c' || k, CASE WHEN random() < 0.8 THEN 'COMMIT' ELSE 'ROLLBACK' END);
            UPDATE pg_temp.conn SET in_tx = false WHERE conn.c = k;
        END IF;
    END LOOP;
    RETURN ran;
END
$$;

-- daily_diff(...): the daily report from the summaries (it must take that
-- path) against the scan; NULL when equal, else what differs.
CREATE FUNCTION pg_temp.daily_diff(r tstzrange, tz text DEFAULT NULL, site text DEFAULT NULL, ia boolean DEFAULT false,
                                   sites text[] DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p record;
    bad text;
    n_s bigint;
    n_f bigint;
BEGIN
    p := sessions.report_path(r, tz, site => site, include_active => ia, sites => sites);
    IF p.path <> 'summaries' THEN
        RETURN 'path ' || p.path || ': ' || p.reason;
    END IF;
    CREATE TEMP TABLE a ON COMMIT DROP AS SELECT * FROM sessions.daily_report(r, tz, site => site, include_active => ia, sites => sites);
    SET LOCAL session_analytics.report_summaries = off;
    CREATE TEMP TABLE b ON COMMIT DROP AS SELECT * FROM sessions.daily_report(r, tz, site => site, include_active => ia, sites => sites);
    SET LOCAL session_analytics.report_summaries = on;
    SELECT count(*) INTO n_s FROM a;
    SELECT count(*) INTO n_f FROM b;
    SELECT string_agg(format('%s: %s / %s', COALESCE(a.day, b.day), to_jsonb(a), to_jsonb(b)), '; ') INTO bad
      FROM a FULL JOIN b ON a.day = b.day
     WHERE a.day IS NULL OR b.day IS NULL
        OR (a.sessions, a.active, a.completed, a.empty, a.micro, a.normal, a.empty_pct, a.micro_pct, a.avg_duration, a.green, a.orange, a.red)
           IS DISTINCT FROM
           (b.sessions, b.active, b.completed, b.empty, b.micro, b.normal, b.empty_pct, b.micro_pct, b.avg_duration, b.green, b.orange, b.red)
        OR abs(a.kwh - b.kwh) > (b.completed + 1) * 2.0e0 ^ -52 * b.kwh;
    DROP TABLE a;
    DROP TABLE b;
    INSERT INTO pg_temp.compared VALUES (n_f);
    RETURN bad;
END
$$;

-- summary_diff(...): the same for summary_report.
CREATE FUNCTION pg_temp.summary_diff(r tstzrange, tz text DEFAULT NULL, site text DEFAULT NULL, ia boolean DEFAULT false,
                                     sites text[] DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p record;
    a record;
    b record;
BEGIN
    p := sessions.report_path(r, tz, site => site, include_active => ia, sites => sites);
    IF p.path <> 'summaries' THEN
        RETURN 'path ' || p.path || ': ' || p.reason;
    END IF;
    SELECT * INTO a FROM sessions.summary_report(r, tz, site => site, include_active => ia, sites => sites);
    SET LOCAL session_analytics.report_summaries = off;
    SELECT * INTO b FROM sessions.summary_report(r, tz, site => site, include_active => ia, sites => sites);
    SET LOCAL session_analytics.report_summaries = on;
    IF (a.sessions, a.active, a.completed, a.empty, a.micro, a.normal, a.empty_pct, a.micro_pct, a.avg_duration,
        a.green, a.orange, a.red, a.combined, a.combined_pct)
       IS DISTINCT FROM
       (b.sessions, b.active, b.completed, b.empty, b.micro, b.normal, b.empty_pct, b.micro_pct, b.avg_duration,
        b.green, b.orange, b.red, b.combined, b.combined_pct)
       OR abs(a.kwh - b.kwh) > (b.completed + 1) * 2.0e0 ^ -52 * b.kwh THEN
        RETURN format('%s / %s', to_jsonb(a), to_jsonb(b));
    END IF;
    INSERT INTO pg_temp.compared VALUES (CASE WHEN b.sessions > 0 THEN 1 ELSE 0 END);
    RETURN NULL;
END
$$;

-- figures_diff(...): session-report's other figures per site and day, the
-- chart of report_stats and the sites of report_sites, from the summaries
-- (it must take that path) against the scan; NULL when equal, byte for byte.
CREATE FUNCTION pg_temp.figures_diff(r tstzrange, tz text DEFAULT NULL, site text DEFAULT NULL, ia boolean DEFAULT false,
                                     sites text[] DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p record;
    chart_s text;
    chart_f text;
    sites_s text[];
    sites_f text[];
BEGIN
    p := sessions.report_path(r, tz, site => site, include_active => ia, sites => sites);
    IF p.path <> 'summaries' THEN
        RETURN 'path ' || p.path || ': ' || p.reason;
    END IF;
    chart_s := sessions.daily_chart_svg(sessions.report_stats(r, tz, site => site, include_active => ia, sites => sites), 't');
    sites_s := ARRAY(SELECT x FROM sessions.report_sites(r, tz, site => site, include_active => ia, sites => sites) x ORDER BY x);
    SET LOCAL session_analytics.report_summaries = off;
    chart_f := sessions.daily_chart_svg(sessions.report_stats(r, tz, site => site, include_active => ia, sites => sites), 't');
    sites_f := ARRAY(SELECT x FROM sessions.report_sites(r, tz, site => site, include_active => ia, sites => sites) x ORDER BY x);
    SET LOCAL session_analytics.report_summaries = on;
    IF chart_s IS DISTINCT FROM chart_f THEN
        RETURN format('chart differs (ia %s): %s / %s', ia,
                      (SELECT left(substr(chart_s, i - 60), 160) FROM generate_series(1, length(chart_s)) i
                        WHERE substr(chart_s, i, 1) IS DISTINCT FROM substr(chart_f, i, 1) LIMIT 1),
                      (SELECT left(substr(chart_f, i - 60), 160) FROM generate_series(1, length(chart_s)) i
                        WHERE substr(chart_s, i, 1) IS DISTINCT FROM substr(chart_f, i, 1) LIMIT 1));
    ELSIF sites_s IS DISTINCT FROM sites_f THEN
        RETURN format('sites %s / %s', sites_s, sites_f);
    END IF;
    RETURN NULL;
END
$$;

-- zone_diff(...): report_time_zone's answer (zone, source, the sites and
-- their zones) from the live summaries' namespaces against the scan's; NULL
-- when equal.
CREATE FUNCTION pg_temp.zone_diff(r tstzrange, site text DEFAULT NULL, sites text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET client_min_messages = warning AS $$
DECLARE
    a text;
    b text;
BEGIN
    a := (SELECT z::text FROM sessions.report_time_zone(r, site, sites) z);
    SET LOCAL session_analytics.report_summaries = off;
    b := (SELECT z::text FROM sessions.report_time_zone(r, site, sites) z);
    SET LOCAL session_analytics.report_summaries = on;
    RETURN CASE WHEN a IS DISTINCT FROM b THEN format('zone of %s site %s sites %s: %s / %s', r, site, sites, a, b) END;
END
$$;

-- every_report(): daily and summary reports of each site in its zone over
-- months and DST days, with and without active sessions, by location; the
-- mismatches (an empty array when all agree).
CREATE FUNCTION pg_temp.every_report() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    bad text[] := '{}';
    ns record;
    rg tstzrange;
    d text;
BEGIN
    FOR ns IN SELECT n.namespace, COALESCE(z.time_zone, 'UTC') AS tz
                FROM (SELECT DISTINCT namespace FROM sessions.store WHERE kind IN ('ocpi', 'powerflex')) n
                LEFT JOIN sessions.site z ON z.namespace = n.namespace ORDER BY 1 LOOP
        -- Reports of one namespace: its site column in the store names the
        -- location, so select it through a location filter shared by no other.
        FOR rg IN SELECT tstzrange(timezone(ns.tz, a::timestamp), timezone(ns.tz, b::timestamp))
                    FROM (VALUES ('2025-02-01'::date, '2025-12-01'::date), ('2025-03-01', '2025-04-01'),
                                 ('2025-03-08', '2025-03-11'), ('2025-10-25', '2025-11-04')) v(a, b) LOOP
            FOREACH d IN ARRAY ARRAY[pg_temp.daily_diff(rg, ns.tz, 'only-' || ns.namespace),
                                     pg_temp.daily_diff(rg, ns.tz, 'only-' || ns.namespace, true),
                                     pg_temp.summary_diff(rg, ns.tz, 'only-' || ns.namespace, true),
                                     pg_temp.figures_diff(rg, ns.tz, 'only-' || ns.namespace),
                                     pg_temp.figures_diff(rg, ns.tz, 'only-' || ns.namespace, true),
                                     pg_temp.zone_diff(rg, 'only-' || ns.namespace)] LOOP
                IF d IS NOT NULL THEN
                    bad := bad || format('%s %s: %s', ns.namespace, rg, d);
                END IF;
            END LOOP;
        END LOOP;
    END LOOP;
    -- The zone of reports over every site: whole days, parts of days, open
    -- and empty ranges, one session's instant.
    FOR rg IN SELECT x FROM (VALUES (NULL::tstzrange), ('empty'), ('[2025-03-01, 2025-04-01)'), ('[2025-03-01 05:00+00, 2025-03-09 13:30+00)'),
                                    ('(2025-03-08 23:00+00, 2025-03-09 02:00+00]'), ('[2025-10-26 00:00+01, 2025-10-26 00:00+01]'),
                                    ('[2025-11-03 08:00+00,)'), ('(,2025-02-03 16:00+00)'), ('[2025-06-01, 2025-06-02)')) v(x) LOOP
        d := pg_temp.zone_diff(rg);
        IF d IS NOT NULL THEN
            bad := bad || d;
        END IF;
    END LOOP;
    RETURN bad;
END
$$;

-- ---- rounds ---------------------------------------------------------------------
SELECT setseed(0.4242);
SELECT cmp_ok(pg_temp.play(400), '>', 150, 'round 1: random writes from four connections');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'round 1: check_summaries() is empty');
SELECT cmp_ok((SELECT count(*) FROM sessions.summary_delta), '>', 0::bigint, 'round 1: there are summaries');
SELECT cmp_ok(sessions.expire_sessions(), '>', 0, 'round 1: expiry ended sessions');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'round 1: check_summaries() is empty after the expiry');

SELECT cmp_ok(pg_temp.play(400), '>', 150, 'round 2: random writes from four connections');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'round 2: check_summaries() is empty');
SELECT cmp_ok(sessions.compact_summaries(), '>', 0::bigint, 'round 2: compaction merges keys');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'round 2: check_summaries() is empty after compaction');
SELECT is((SELECT count(*) FROM (SELECT namespace, kind, site, day, time_zone FROM sessions.summary_delta
                                 GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) k), 0::bigint,
          'round 2: after compaction one row per key (storage O(sites x days))');
SELECT is((SELECT count(*) FROM sessions.summary_delta), (SELECT count(*) FROM sessions.summary_scan()),
          'round 2: and as many rows as a fresh scan has keys');
SELECT throws_ok($$SELECT sessions.compact_summary_shard('sessions.store')$$, '22023',
                 'compact_summary_shard: store is not sessions.summary_delta or a shard of it',
                 'the merge refuses a table that is not summary_delta or a shard of it');

SELECT cmp_ok(pg_temp.play(400), '>', 150, 'round 3: random writes from four connections');
SELECT is((sessions.maintenance() -> 'summaries_compacted')::int > 0, true, 'round 3: maintenance() compacts the summaries');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'round 3: check_summaries() is empty');

-- ---- reports: summaries against the scan -----------------------------------------
-- Give every namespace's rows a location of their own so a report can be
-- asked for one namespace (site filter), in its own zone.
SET session_analytics.report_summaries = off;
UPDATE sessions.store SET site = 'only-' || namespace WHERE kind IN ('ocpi', 'powerflex');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'a bulk move of every session between sites keeps the summaries exact');
-- The random rounds need not leave a completed session of every site in
-- March (their connections' random() is not seeded): one per site
-- mid-March makes the March reports below non-empty in every run.
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, site)
SELECT 'powerflex', n, 'anchor-' || n, 'COMPLETED', '2025-03-15 12:00+00', '2025-03-15 14:00+00', 12.5, 'only-' || n
  FROM unnest(ARRAY['Depot', 'Mall', 'Plaza', 'NL-TNM', 'US-EVX', 'AU-LHI']) n;
RESET session_analytics.report_summaries;
SELECT is(pg_temp.every_report(), '{}'::text[], 'every report of every site from the summaries equals the scan');
SELECT cmp_ok((SELECT sum(days)::int FROM pg_temp.compared), '>', 200, 'and they compared hundreds of non-empty days');
SELECT cmp_ok((SELECT count(*)::int FROM pg_temp.failed), '<', 40, 'few random writes were refused (and rolled back their transaction)');

-- report_time_zone finds a report's sites from the summaries: over most of
-- a year it reads no session (the days inside the range name them), where
-- the scan reads every session of the range. The planner may fetch a few
-- index entries of store while it plans (the actual end of started_at when
-- a bound lies beyond the column's statistics, once autovacuum has
-- analysed it): that is not a read of the range's sessions, so the bound
-- is a handful, against hundreds for the scan.
CREATE FUNCTION pg_temp.zone_reads(r tstzrange) RETURNS bigint LANGUAGE plpgsql SET client_min_messages = warning AS $$
DECLARE
    n0 bigint := (SELECT COALESCE(x.seq_tup_read, 0) + COALESCE(x.idx_tup_fetch, 0) FROM pg_stat_xact_user_tables x
                   WHERE x.relid = 'sessions.store'::regclass);
BEGIN
    PERFORM sessions.report_time_zone(r);
    RETURN (SELECT COALESCE(x.seq_tup_read, 0) + COALESCE(x.idx_tup_fetch, 0) FROM pg_stat_xact_user_tables x
             WHERE x.relid = 'sessions.store'::regclass) - n0;
END
$$;
SELECT cmp_ok(pg_temp.zone_reads('[2025-02-01, 2025-12-01)'), '<', 20::bigint,
              'report_time_zone over ten months, summaries on: no session read');
SET session_analytics.report_summaries = off;
SELECT cmp_ok(pg_temp.zone_reads('[2025-02-01, 2025-12-01)'), '>', 100::bigint,
              'and with report_summaries = off it reads the range''s sessions');
RESET session_analytics.report_summaries;

-- session-report's --site look-up: every site of all time, from the
-- summaries whatever the sites' zones or the threshold (report_path scans
-- all sites together: they do not share one zone), equal to the scan.
CREATE FUNCTION pg_temp.site_reads(ia boolean, OUT reads bigint, OUT sites text[]) LANGUAGE plpgsql AS $$
DECLARE
    n0 bigint := (SELECT COALESCE(x.seq_tup_read, 0) + COALESCE(x.idx_tup_fetch, 0) FROM pg_stat_xact_user_tables x
                   WHERE x.relid = 'sessions.store'::regclass);
BEGIN
    sites := ARRAY(SELECT x FROM sessions.report_sites(NULL::tstzrange, micro_threshold => 5, include_active => ia) x ORDER BY x);
    reads := (SELECT COALESCE(x.seq_tup_read, 0) + COALESCE(x.idx_tup_fetch, 0) FROM pg_stat_xact_user_tables x
               WHERE x.relid = 'sessions.store'::regclass) - n0;
END
$$;
SELECT is((pg_temp.site_reads(true)).reads, 0::bigint, 'report_sites of all time, summaries on: no session read');
SELECT is((pg_temp.site_reads(true)).sites,
          ARRAY(SELECT DISTINCT s.site FROM sessions.report_sessions(NULL, NULL, true) s ORDER BY 1),
          'and its sites, active sessions included, are the scan''s');
SELECT is((pg_temp.site_reads(false)).sites,
          ARRAY(SELECT DISTINCT s.site FROM sessions.report_sessions(NULL, NULL, false) s ORDER BY 1),
          'completed sessions only: the scan''s too');
SET session_analytics.report_summaries = off;
SELECT cmp_ok((pg_temp.site_reads(true)).reads, '>', 100::bigint, 'with report_summaries = off it scans the store');
RESET session_analytics.report_summaries;

-- Every site, all days, each in its own zone (zone from the site).
SELECT is(pg_temp.daily_diff(NULL, NULL, 'only-NL-TNM'), NULL, 'all days of one site, zone from the site');
SELECT is(pg_temp.summary_diff(NULL, NULL, 'only-US-EVX', true), NULL, 'summary of one site over all days, with active sessions');
SELECT is(pg_temp.daily_diff(NULL, 'UTC', NULL, false, ARRAY['only-Depot', 'only-Mall']), NULL,
          'two UTC sites together (one without a site row, one without a zone)');
SELECT is(pg_temp.summary_diff('[2025-03-01 00:00+00, 2025-04-01 00:00+00)', NULL, NULL, false, ARRAY['only-Depot', 'only-Mall']), NULL,
          'two UTC sites, zone from the sites');
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01, 2025-04-01)')), 'scan',
          'all sites together (different zones: UTC days) scan');
SELECT matches((SELECT reason FROM sessions.report_path('[2025-03-01, 2025-04-01)')), 'do not share one time zone',
               'and say why');
SELECT cmp_ok((SELECT count(*) FROM sessions.daily_report('[2025-03-01, 2025-04-01)')), '>', 0::bigint,
          'the mixed report runs (scan)');

-- ---- which path ---------------------------------------------------------------------
SELECT is((SELECT path || ' ' || time_zone || ' ' || first_day || ' ' || end_day
             FROM sessions.report_path('[2025-03-01 05:00+00, 2025-04-01 04:00+00)', site => 'only-US-EVX')),
          'summaries America/New_York 2025-03-01 2025-04-01', 'local midnights of New York (across the DST change): summaries');
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01 06:00+00, 2025-04-01 04:00+00)', site => 'only-US-EVX')), 'scan',
          'a range starting at 01:00 local scans');
SELECT matches((SELECT reason FROM sessions.report_path('[2025-03-01 06:00+00, 2025-04-01 04:00+00)', site => 'only-US-EVX')),
               'does not start at a local midnight', 'and says why');
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01 05:00+00, 2025-04-01 04:00+00]', site => 'only-US-EVX')), 'scan',
          'an inclusive upper bound scans');
SELECT is((SELECT path FROM sessions.report_path('(2025-03-01 05:00+00, 2025-04-01 04:00+00)', site => 'only-US-EVX')), 'scan',
          'an exclusive lower bound scans');
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01, 2025-04-01)', 'UTC', site => 'only-US-EVX')), 'scan',
          'another zone than the site''s scans');
SELECT matches((SELECT reason FROM sessions.report_path('[2025-03-01, 2025-04-01)', 'UTC', site => 'only-US-EVX')),
               'another zone than UTC', 'and says why');
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01 05:00+00, 2025-04-01 04:00+00)', 'America/New_York', 2.0, 'only-US-EVX')),
          'scan', 'another micro_threshold scans');
SET session_analytics.volts = 230;
SELECT is((SELECT path FROM sessions.report_path(NULL, site => 'only-US-EVX')), 'scan', 'another volts setting scans');
RESET session_analytics.volts;
SET session_analytics.report_summaries = off;
SELECT is((SELECT reason FROM sessions.report_path(NULL, site => 'only-US-EVX')), 'session_analytics.report_summaries is off',
          'report_summaries = off forces the scan');
RESET session_analytics.report_summaries;
SELECT is((SELECT path FROM sessions.report_path('[2025-03-01, infinity)', site => 'only-Depot')), 'scan', 'an infinite bound scans');
SELECT is((SELECT path FROM sessions.report_path('empty', site => 'only-Depot')), 'summaries', 'an empty range needs no scan');
SELECT is((SELECT count(*) FROM sessions.daily_report('empty', site => 'only-Depot')), 0::bigint, 'and has no day');
SELECT isnt(sessions.time_zone_source(), 'session', 'time_zone_source: TimeZone not set for the session');
SET TimeZone = 'America/New_York';
SELECT is(sessions.time_zone_source(), (SELECT source FROM pg_settings WHERE name = 'TimeZone'),
          'time_zone_source says what pg_settings says');
SELECT is((SELECT path || ' ' || time_zone FROM sessions.report_path(NULL, site => 'only-US-EVX')), 'summaries America/New_York',
          'the session''s TimeZone, the site''s zone: summaries');
SELECT is((SELECT path FROM sessions.report_path(NULL, site => 'only-Depot')), 'scan', 'the session''s TimeZone, another site''s zone: scan');
RESET TimeZone;
SELECT throws_ok($$SELECT * FROM sessions.report_path(NULL, 'Mars/Olympus')$$, '22023', NULL, 'report_path: an unknown zone is refused');
SELECT ok(sessions.summary_stats('[2025-03-01, 2025-04-01)', 'UTC', 1.0, 'only-US-EVX', false, NULL) IS NULL,
          'summary_stats is NULL where the report must scan');

-- ---- report_stats and report_sites: the one path of a report's figures ---------------
SELECT is(sessions.report_stats('[2025-03-01 05:00+00, 2025-04-01 04:00+00)', 'America/New_York', 1.0, 'only-US-EVX')::text,
          sessions.summary_stats('[2025-03-01 05:00+00, 2025-04-01 04:00+00)', 'America/New_York', 1.0, 'only-US-EVX', false, NULL)::text,
          'report_stats is the summaries'' session_stats where report_path says summaries');
SELECT is(sessions.report_stats('[2025-03-01, 2025-04-01)', 'UTC', 1.0, 'only-US-EVX', true)::text,
          (SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'UTC', 1.0)
             FROM sessions.report_sessions('[2025-03-01, 2025-04-01)', 'only-US-EVX', true) s)::text,
          'and the scan''s where it says scan');
SELECT is(pg_temp.summary_diff('[2030-01-01, 2030-02-01)', 'UTC', 'only-Depot'), NULL,
          'a month without sessions: the summary report from the summaries equals the scan''s');
SELECT ok(sessions.report_stats('[2030-01-01, 2030-02-01)', 'UTC', 1.0, 'only-Depot') IS NULL,
          'report_stats of no session is NULL on the summary path, as the scan''s aggregate over no rows');
SELECT is(pg_temp.figures_diff(NULL, 'UTC', NULL, true, ARRAY['only-Depot', 'only-Mall']), NULL,
          'chart and sites of two UTC sites together: the summaries equal the scan');
SELECT is(ARRAY(SELECT x FROM sessions.report_sites('[2025-03-01, 2025-04-01)', 'UTC', 1.0, 'only-US-EVX') x),
          ARRAY(SELECT DISTINCT s.site FROM sessions.report_sessions('[2025-03-01, 2025-04-01)', 'only-US-EVX') s),
          'report_sites on the scan path: the sites report_sessions selects');
SELECT is(ARRAY(SELECT x FROM sessions.report_sites('empty', site => 'only-Depot') x), '{}'::text[],
          'report_sites of an empty range: none');
SELECT throws_ok($$SELECT sessions.report_stats(NULL, 'Mars/Olympus')$$, '22023', NULL, 'report_stats: an unknown zone is refused');
SELECT throws_ok($$SELECT sessions.report_stats(NULL, 'UTC', 0)$$, '22023', NULL, 'report_stats: threshold 0 is refused');
SELECT throws_ok($$SELECT * FROM sessions.report_sites(NULL, 'Mars/Olympus')$$, '22023', NULL, 'report_sites: an unknown zone is refused');
SELECT throws_ok($$SELECT * FROM sessions.report_sites(NULL, 'UTC', 'NaN')$$, '22023', NULL,
                 'report_sites: a threshold the reports refuse is refused (on the scan path too)');

-- ---- a zone change rebuilds ----------------------------------------------------------
SELECT is((sessions.set_site('US-EVX', 'America/Chicago')).time_zone, 'America/Chicago', 'set_site gives a site a new zone');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'a site''s new zone: its summaries rebuilt in it');
SELECT is((SELECT DISTINCT time_zone FROM sessions.summary_delta WHERE namespace = 'US-EVX'), 'America/Chicago',
          'in the new zone');
SELECT is(pg_temp.daily_diff('[2025-03-01 06:00+00, 2025-04-01 05:00+00)', NULL, 'only-US-EVX'), NULL,
          'reports in the new zone from the summaries equal the scan');
DELETE FROM sessions.site WHERE namespace = 'Plaza';
SELECT is((SELECT DISTINCT time_zone FROM sessions.summary_delta WHERE namespace = 'Plaza'), 'UTC', 'a deleted site: UTC summaries');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'and exact');

-- ---- check_summaries finds a wrong summary; rebuild repairs it -------------------------
INSERT INTO sessions.summary_delta VALUES ('Depot', 'powerflex', 'only-Depot', '2025-03-09', 'UTC', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
SELECT is((SELECT namespace || ' ' || day FROM sessions.check_summaries()), 'Depot 2025-03-09',
          'check_summaries reports a forged delta');
SELECT cmp_ok(sessions.rebuild_summaries('Depot'), '>', 0::bigint, 'rebuild_summaries(namespace) rewrites its summaries');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'and repairs them');
SELECT cmp_ok(sessions.rebuild_summaries(), '>', 0::bigint, 'rebuild_summaries() rewrites all');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'exact after a full rebuild');

-- ---- parameters and switching off -------------------------------------------------------
SELECT is((sessions.configure_summaries(micro_threshold => 2.0) ->> 'micro_threshold')::float8, 2.0::float8,
          'configure_summaries sets the threshold');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'summaries rebuilt with it');
SELECT is((SELECT path FROM sessions.report_path(NULL, site => 'only-NL-TNM')), 'scan', 'the default threshold now scans');
SELECT is((SELECT path FROM sessions.report_path(NULL, NULL, 2.0, 'only-NL-TNM')), 'summaries', 'threshold 2 reads the summaries');
SELECT is((SELECT s.micro FROM sessions.summary_report(NULL, NULL, 2.0, 'only-NL-TNM') s),
          (SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM' AND ended_at IS NOT NULL AND kwh > 0 AND kwh < 2 AND started_at IS NOT NULL
                                                 AND kind IN ('ocpi', 'powerflex')),
          'and counts micro sessions below 2 kWh');
SELECT is((sessions.configure_summaries(false) ->> 'enabled')::boolean, false, 'configure_summaries(false) switches them off');
SELECT is((SELECT count(*) FROM sessions.summary_delta), 0::bigint, 'no summary is kept');
SELECT is((SELECT string_agg(tgenabled::text, '') FROM pg_trigger WHERE tgrelid = 'sessions.store'::regclass AND tgname LIKE 'summary\_%'),
          'DDDD', 'the store''s summary triggers are disabled (writes pay nothing)');
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh) VALUES
    ('powerflex', 'Depot', 'off-1', 'X', '2025-03-09 12:00+00', '2025-03-09 13:00+00', 3);
SELECT is((SELECT count(*) FROM sessions.summary_delta), 0::bigint, 'a write while off adds nothing');
SELECT is((SELECT reason FROM sessions.report_path(NULL)), 'live summaries are switched off (sessions.configure_summaries)',
          'reports scan while off');
SELECT is((sessions.configure_summaries() ->> 'enabled')::boolean, true, 'configure_summaries() switches them on with the defaults');
SELECT is((SELECT count(*) FROM sessions.summary_config), 0::bigint, 'the defaults leave no settings row');
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint, 'switched on: rebuilt, the write made while off included');

-- ---- errors -------------------------------------------------------------------------------
SELECT throws_ok($$SELECT sessions.configure_summaries(NULL)$$, '22004', NULL, 'configure_summaries: NULL refused');
SELECT throws_ok($$SELECT sessions.configure_summaries(micro_threshold => -1)$$, '22023', NULL, 'configure_summaries: a threshold <= 0 refused');
SELECT throws_ok($$SELECT sessions.configure_summaries(good_a => 4)$$, '22023', NULL, 'configure_summaries: fair_a above good_a refused');

-- ---- a REPEATABLE READ writer whose snapshot predates a zone change ----------------
DO $$
BEGIN
    PERFORM dblink_exec('c1', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
    PERFORM * FROM dblink('c1', 'SELECT count(*) FROM sessions.store') AS t(n bigint);  -- its snapshot
END
$$;
SELECT is((sessions.set_site('Depot', 'Asia/Tokyo')).time_zone, 'Asia/Tokyo', 'Depot gets a zone while c1''s snapshot is older');
DO $$
BEGIN
    PERFORM dblink_exec('c1', $q$INSERT INTO sessions.store (kind, namespace, site, external_id, status, started_at, ended_at, kwh)
                                 VALUES ('powerflex', 'Depot', 'only-Depot', 'rr-1', 'X', '2025-03-09 16:30+00', '2025-03-09 17:00+00', 4)$q$);
    PERFORM dblink_exec('c1', 'COMMIT');
END
$$;
SELECT is((SELECT count(*) FROM sessions.check_summaries()), 0::bigint,
          'its write is summarized in the new zone (the trigger reads zones as of now, not as of its snapshot)');

-- ---- the trigger function belongs to sessions.store ---------------------------------
CREATE TABLE public.fake_store (LIKE sessions.store INCLUDING DEFAULTS);
CREATE TRIGGER fake AFTER INSERT ON public.fake_store REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.summary_capture();
SELECT throws_ok($$INSERT INTO public.fake_store (kind, namespace, status, started_at) VALUES ('ocpi', 'NL-TNM', 'X', now())$$,
                 '39P01', NULL, 'summary_capture refuses to summarize another table than sessions.store');
DROP TABLE public.fake_store;

-- ---- TRUNCATE -----------------------------------------------------------------------------
TRUNCATE sessions.store CASCADE;
SELECT is((SELECT count(*) FROM sessions.summary_delta), 0::bigint, 'TRUNCATE of the store empties the summaries');

DO $$
BEGIN
    FOR i IN 1..4 LOOP
        PERFORM dblink_disconnect('c' || i);
    END LOOP;
END
$$;
SELECT * FROM finish();
