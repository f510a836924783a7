#!/usr/bin/env bash
# Start/stop notifications: session-listen follows the OCPI party NL-TNM while
# sessions start and stop; its connection is killed once on the way and it
# still prints every event once, in order. Then the catch-up API in SQL.
set -euo pipefail
echo
echo "== Notifications: session-listen --party NL-TNM"
state=$(mktemp)
session-listen --party NL-TNM --state "$state" --count 5 &
LP=$!
trap 'kill $LP 2>/dev/null || true' EXIT
sleep 0.5
psql -X -q -c "INSERT INTO sessions.store (kind, namespace, external_id, status, started_at)
               VALUES ('ocpi', 'NL-TNM', 'DEMO-1', 'PENDING', now()), ('ocpi', 'BE-BEC', 'DEMO-2', 'ACTIVE', now())"
psql -X -q -c "UPDATE sessions.store SET status = 'ACTIVE' WHERE external_id = 'DEMO-1'"
psql -X -q -At -c "SELECT 'listener connection terminated: ' || pg_terminate_backend(pid)
                     FROM pg_stat_activity WHERE application_name = 'session-listen'" >&2 || true
psql -X -q -c "UPDATE sessions.store SET status = 'COMPLETED', ended_at = now() WHERE external_id IN ('DEMO-1', 'DEMO-2')"
psql -X -q -c "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'NL-TNM', 'DEMO-3', 'INVALID')"
wait $LP
rm -f "$state"
echo
echo "== Catch-up in SQL: the last events of NL-TNM, and the channel names"
psql -X -q -P pager=off -c "SELECT seq, event, external_id, status FROM sessions.events_since(
                              greatest(sessions.events_head() - 8, 0), 'NL-TNM')"
psql -X -q -P pager=off -c "SELECT sessions.channel_for('start', NULL) AS every_start,
                                   sessions.channel_for('stop', 'NL-TNM') AS party_stop,
                                   sessions.channel_for('start', 'online') AS invoice_online"
