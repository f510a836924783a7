#!/usr/bin/env bash
# pg_cron (Debian's postgresql-15-cron) instead of the built-in expiry worker:
# on a cluster of its own with only pg_cron preloaded, a job runs
# sessions.maintenance(); expired invoice-style and telemetry sessions end
# (stored EXPIRED, with their STOP events in sessions.event_log) and events
# older than session_analytics.event_retention are pruned. pg_cron 1.5+ runs
# the job every 2 seconds; Debian 12's 1.4 has minute schedules only, so the
# wait there is up to one minute.
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
plan 13

pgc_init "$SA_TEST_DIR/pg_cron"
PGC_BIN=$(dirname "$(command -v postgres)")
# Background workers: jobs need no libpq connection (the cluster has no TCP).
pgc_start "shared_preload_libraries = 'pg_cron'" \
          "cron.database_name = 'postgres'" \
          "cron.use_background_workers = on" \
          "session_analytics.event_retention = '1min'"
ok $? "cluster with pg_cron preloaded starts"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION session_analytics" >/dev/null
ok $? "pg_cron and session_analytics created"
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'session_analytics expiry'")" "0" \
   "no built-in expiry worker (the library is not preloaded)"

# Old events: two sessions whose events are backdated past the retention.
old1=$(q -c "SELECT sessions.create_session('OldSource')")
old2=$(q -c "SELECT sessions.open_session('batch', reference => 'old-ref')")
q -c "UPDATE sessions.event_log SET logged_at = now() - interval '2 hours' WHERE namespace IN ('OldSource', 'batch')" >/dev/null
old_top=$(q -c "SELECT max(seq) FROM sessions.event_log WHERE namespace IN ('OldSource', 'batch')")
is "$(q -c "SELECT count(*) FROM sessions.event_log WHERE namespace IN ('OldSource', 'batch')")" "2" "two old events logged"
# Sessions expiring in a second, and one that does not expire.
ref=$(q -c "SELECT sessions.open_session('online', interval '1 second')")
tkey=$(q -c "SELECT sessions.create_session('Car1', valid_until => now() + interval '1 second')")
keep=$(q -c "SELECT sessions.open_session('online', reference => 'keep-ref')")

# Seconds schedules came with pg_cron 1.5; fall back to every minute.
if q -c "SELECT cron.schedule('session-maintenance', '2 seconds', 'SELECT sessions.maintenance()')" >/dev/null 2>&1; then
    limit=40
else
    q -c "SELECT cron.schedule('session-maintenance', '* * * * *', 'SELECT sessions.maintenance()')" >/dev/null
    limit=150
fi
is "$(q -c "SELECT command FROM cron.job WHERE jobname = 'session-maintenance'")" "SELECT sessions.maintenance()" "job scheduled"

# Until pg_cron has run the job once after the sessions expired ($limit x 0.5 s).
since=$(q -c "SELECT now() + interval '1 second'")
done_runs=0
for _ in $(seq 1 "$limit"); do
    done_runs=$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded' AND start_time >= '$since'")
    [ "$done_runs" -gt 0 ] && break
    sleep 0.5
done
ok "$([ "$done_runs" -gt 0 ]; echo $?)" "pg_cron ran sessions.maintenance() successfully"
is "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'")" "0" "no failed run"
is "$(q -c "SELECT status || ' ' || (doc ->> 'status_code') || ' ' || (ended_at = valid_until) FROM sessions.store WHERE external_id = '$ref'")" \
   "EXPIRED 440 true" "the expired invoice-style session is stored 440 EXPIRED, ended at valid_until"
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$tkey'")" "EXPIRED" "the expired telemetry session is stored EXPIRED"
is "$(q -c "SELECT string_agg(e.event || ':' || e.status, ',' ORDER BY e.seq) FROM sessions.event_log e JOIN sessions.store s USING (session_key) WHERE s.external_id = '$ref' OR s.session_key = '$tkey'")" \
   "start:OPEN,start:LIVE,stop:EXPIRED,stop:EXPIRED" "both have their STOP event in the log"
is "$(q -c "SELECT status FROM sessions.store WHERE external_id = 'keep-ref'")" "OPEN" "a session without a deadline is untouched"
is "$(q -c "SELECT count(*) FROM sessions.event_log WHERE namespace IN ('OldSource', 'batch')")" "0" "events older than the retention were pruned"
is "$(q -c "SELECT pruned_through >= $old_top FROM sessions.event_prune_state")" "t" "the prune position covers them"
pgc_stop
