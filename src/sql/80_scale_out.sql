-- session_analytics: scale-out on Citus (docs/scale-out.md). One step,
-- sessions.distribute(), run on the coordinator, turns a single-node install
-- into a distributed one: the store and the tables of its sessions sharded by
-- namespace and co-located with it, the small shared tables as reference
-- tables. Last of the parts: it names the tables of every other part.

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
