-- session_analytics: live summaries of the store (docs/summaries.md).
--
-- Every statement that writes sessions.store appends, from its transition
-- tables, the change of the summary of each (namespace, kind, site, local
-- day) it touched to sessions.summary_delta: the old rows' contributions
-- subtracted, the new rows' added, grouped, in one INSERT. Writers never
-- update a shared row, so concurrent writers of one hot site-day do not
-- wait on each other. A summary is the SUM of its delta rows; the
-- maintenance round (sessions.compact_summaries) merges them into one row
-- per key. daily_report and summary_report read them through
-- sessions.summary_stats (20_analytics.sql) when the question is whole
-- local days in the sites' own zone with the summarized parameters.

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
