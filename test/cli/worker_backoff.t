#!/usr/bin/env bash
# The background workers when session_analytics.database names a database
# that does not exist yet: they back off (1 s doubling to
# session_analytics.worker_retry_max, 2 s here) instead of failing once a
# second, log one line per attempt saying when the next comes, and pick the
# database up within the cap once it is created.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/lib/cluster.sh"
plan 6

cluster_start worker_backoff "session_analytics.database = 'notyet'" "session_analytics.worker_retry_max = 2" \
          "session_analytics.expiry_interval = 1"
ok $? "cluster starts with session_analytics.database naming a missing database"
fatals() { grep -c 'FATAL:  database "notyet" does not exist' "$PGC_DIR/server.log"; }

# 10 s: restarted every second (the old behaviour) that is ~20 failed
# connections of the two workers; with the back-off (waits 1, 2, 2, ... s
# plus the 1 s restart) each worker tries at about 0, 2, 5, 8 s.
sleep 10
n=$(fatals)
ok "$([ "$n" -ge 2 ] && [ "$n" -le 10 ]; echo $?)" "failed connections in 10 s back off: $n (2..10 wanted, ~20 without back-off)"
like "$(cat "$PGC_DIR/server.log")" 'session_analytics notifier: could not connect to database "notyet" \([0-9]+ failed attempts\); next attempt in 2 s' \
     "the notifier says when it tries next, capped at worker_retry_max"
like "$(cat "$PGC_DIR/server.log")" 'session_analytics expiry worker: could not connect to database "notyet"' \
     "so does the expiry worker"

t0=$(date +%s)
q -c "CREATE DATABASE notyet" && psql -X -q -d notyet -c "CREATE EXTENSION session_analytics" >/dev/null
for _ in $(seq 1 100); do
    [ "$(psql -X -At -d notyet -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'notyet' AND backend_type IN ('session_analytics notifier', 'session_analytics expiry')")" = 2 ] && break
    sleep 0.1
done
took=$(( $(date +%s) - t0 ))
is "$(psql -X -At -d notyet -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'notyet' AND backend_type IN ('session_analytics notifier', 'session_analytics expiry')")" 2 \
   "both workers connect once the database exists"
ok "$([ "$took" -le 5 ]; echo $?)" "within the cap plus the restart ($took s)"
pgc_stop
