-- session_analytics: operations across every kind of session -- expiry,
-- the maintenance round the expiry worker runs (src/workers/expiry_worker.c)
-- and the metrics postgres_exporter reads. Last of the parts: it uses the
-- store, the telemetry and invoice lifecycles and the event log's pruning.

/*
 * expire_sessions
 *		Ends every open session past valid_until: telemetry becomes EXPIRED
 *		with termination at valid_until, invoice-style becomes 440 EXPIRED.
 *		Runs as the extension owner so it sees every namespace; called by the
 *		expiry worker through maintenance(), or scheduled with pg_cron.
 */
CREATE FUNCTION sessions.expire_sessions()
RETURNS int
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    WITH e AS (
        UPDATE sessions.store s
           SET status = 'EXPIRED', ended_at = greatest(s.valid_until, s.started_at), last_updated = pg_catalog.now(),
               doc = CASE WHEN s.kind = 'invoice'
                          THEN s.doc || '{"status_code": 440, "description": "Session expired: valid_until passed"}'::jsonb
                          ELSE s.doc END
         WHERE s.kind IN ('telemetry', 'invoice') AND s.ended_at IS NULL AND s.valid_until <= pg_catalog.now()
        RETURNING 1
    )
    SELECT pg_catalog.count(*)::int FROM e;
END;
COMMENT ON FUNCTION sessions.expire_sessions() IS
  'Ends telemetry and invoice-style sessions past valid_until (EXPIRED / 440); returns how many';

/*
 * maintenance
 *		What the background worker runs each interval; returns a summary.
 *		compact_summaries (50_summaries.sql) keeps the live summaries at one
 *		row per site, kind and day.
 */
CREATE FUNCTION sessions.maintenance()
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

/*
 * metric_samples
 *		Sessions by kind, namespace (data source) and state as of now:
 *		live, ended (any way but expiry) or expired. A table for
 *		postgres_exporter custom queries; metrics() formats the same rows.
 */
CREATE FUNCTION sessions.metric_samples()
RETURNS TABLE (kind text, data_source text, state text, sessions bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT s.kind, s.namespace,
           CASE WHEN s.status = 'EXPIRED' OR (s.ended_at IS NULL AND s.valid_until <= pg_catalog.now()) THEN 'expired'
                WHEN s.ended_at IS NOT NULL OR s.status IN ('COMPLETED', 'INVALID', 'FINISHED') THEN 'ended'
                ELSE 'live' END AS st,
           pg_catalog.count(*)
      FROM sessions.store s
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
END;
COMMENT ON FUNCTION sessions.metric_samples() IS
  'Session counts by kind, data source (namespace) and state (live, ended, expired) visible to the caller';

/*
 * metrics
 *		Prometheus text exposition: gauge sessions_total{kind,data_source,
 *		state}, counters sessions_ended_total and sessions_expired_total
 *		{kind,data_source} (ended includes expired).
 */
CREATE FUNCTION sessions.metrics()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    WITH m AS (
        SELECT s.kind, pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(s.data_source, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS ds,
               s.state, s.sessions
          FROM sessions.metric_samples() s
    ), by_source AS (
        SELECT m.kind, m.ds,
               pg_catalog.sum(m.sessions) FILTER (WHERE m.state <> 'live') AS ended,
               pg_catalog.sum(m.sessions) FILTER (WHERE m.state = 'expired') AS expired
          FROM m GROUP BY 1, 2
    )
    SELECT E'# HELP sessions_total Sessions in the store by kind, data source and state.\n'
        || E'# TYPE sessions_total gauge\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_total{kind="%s",data_source="%s",state="%s"} %s', m.kind, m.ds, m.state, m.sessions), E'\n' ORDER BY m.kind, m.ds, m.state) || E'\n' FROM m), '')
        || E'# HELP sessions_ended_total Sessions that have ended (including by expiry).\n'
        || E'# TYPE sessions_ended_total counter\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_ended_total{kind="%s",data_source="%s"} %s', b.kind, b.ds, coalesce(b.ended, 0)), E'\n' ORDER BY b.kind, b.ds) || E'\n' FROM by_source b), '')
        || E'# HELP sessions_expired_total Sessions ended because valid_until passed.\n'
        || E'# TYPE sessions_expired_total counter\n'
        || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('sessions_expired_total{kind="%s",data_source="%s"} %s', b.kind, b.ds, coalesce(b.expired, 0)), E'\n' ORDER BY b.kind, b.ds) || E'\n' FROM by_source b), '');
END;
COMMENT ON FUNCTION sessions.metrics() IS
  'Prometheus exposition text: sessions_total gauge, sessions_ended_total and sessions_expired_total counters';

-- Privileges: expire_sessions() and maintenance() cross tenants (they run
-- as the owner): only the owner, the expiry worker and pg_cron jobs run
-- them. The metrics count what the caller can see and are readers' to call.
REVOKE ALL ON FUNCTION sessions.expire_sessions(), sessions.maintenance(),
    sessions.metric_samples(), sessions.metrics()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.metric_samples(), sessions.metrics()
  TO session_analytics_reader;
