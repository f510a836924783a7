#!/usr/bin/env bash
# sessions.distribute() on the coordinator: the store and the tables of its
# sessions distributed by namespace and co-located, the shared tables as
# reference tables; existing rows move once, without firing the store's
# triggers again (no new events, no summary deltas written twice); the live
# summaries stay on and exact and can be switched off and on again; a second
# call changes nothing; on a worker it refuses.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 18
db=c_distribute
citus_db $db
cq $db -c "INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh)
           SELECT 'invoice', 'ns' || (i % 7), 'r' || i, 'CLOSED', timestamptz '2024-05-01' + i * interval '1 min',
                  timestamptz '2024-05-01' + i * interval '1 min' + interval '1 h', i % 5
             FROM generate_series(1, 700) i" >/dev/null
before=$(cq $db -c "SELECT count(*), sum(kwh), count(DISTINCT namespace) FROM sessions.store")
events=$(cq $db -c "SELECT count(*) FROM sessions.event_log")
deltas=$(cq $db -c "SELECT count(*), sum(completed), sum(kwh) FROM sessions.summary_delta")
dist=$(cq $db -c "SELECT relation || ' ' || distribution FROM sessions.distribute()")
ok $? "distribute() runs on the coordinator"
like "$dist" "sessions.store distributed by namespace" "the store is distributed by namespace"
is "$(cq $db -c "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid::text IN
        ('sessions.store', 'sessions.ocpi_charging_preferences', 'sessions.telemetry_associate', 'sessions.invoice_secret',
         'sessions.session_lease', 'sessions.import_rejects', 'sessions.summary_delta') AND partmethod = 'h'")" 1 \
   "the seven tables of the sessions are distributed and co-located"
is "$(cq $db -c "SELECT string_agg(logicalrelid::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition WHERE partmethod = 'n' AND logicalrelid::text LIKE 'sessions.%'")" \
   "sessions.lifecycle_key sessions.role_namespace sessions.site sessions.summary_config" "lifecycle_key, role_namespace, site and summary_config are reference tables"
is "$(cq $db -c "SELECT count(*), sum(kwh), count(DISTINCT namespace) FROM sessions.store")" "$before" "every row moved, once"
is "$(cq $db -c "SELECT count(*) FROM sessions.event_log")" "$events" "moving the rows wrote no event"
is "$(cq $db -c "SELECT count(*), sum(completed), sum(kwh) FROM sessions.summary_delta")" "$deltas" "and the summary rows moved once (none written again)"
set -- $SA_CITUS_PORTS
shards_on() { cq $db -c "SELECT count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                          WHERE s.logicalrelid = 'sessions.store'::regclass AND n.nodeport = $1"; }
w1=$(shards_on "$2"); w2=$(shards_on "$3")
ok $([ "$w1" -gt 0 ] && [ "$w2" -gt 0 ]; echo $?) "both workers hold store shards ($w1, $w2)"
is "$(cq $db -c "SELECT count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                  WHERE s.logicalrelid = 'sessions.store'::regclass AND n.groupid <> 0")" \
   "$(cq $db -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'sessions.store'::regclass")" "every store shard lives on a worker"
is "$(cq $db -c "SELECT sessions.configure_summaries(false)->>'enabled'" -c "SELECT count(*) FROM sessions.summary_delta" \
            -c "SELECT sessions.configure_summaries(true)->>'enabled'" -c "SELECT count(*) FROM sessions.check_summaries()" | tr '\n' ' ')" \
   "false 0 true 0 " "live summaries switch off (dropped) and back on (rebuilt on the workers, exact) over a distributed store"
again=$(cq $db -c "SELECT relation || ' ' || distribution FROM sessions.distribute()")
is "$again" "$dist" "a second call changes nothing and answers the same"
is "$(cq $db -c "SELECT count(*), sum(kwh), count(DISTINCT namespace) FROM sessions.store")" "$before" "and moves no row again"
err=$(wq 1 $db -c "SELECT * FROM sessions.distribute()" 2>&1)
like "$err" "not the Citus coordinator" "on a worker distribute() refuses (55000)"
# Moving a shard group to the other worker (what rebalance_table_shards
# does): the co-located shards of the same namespaces move with it and every
# row stays reachable. block_writes: import_rejects and summary_delta have no
# replica identity for a logical move (docs/scale-out.md).
set -- $SA_CITUS_PORTS
sid=$(cq $db -c "SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                 WHERE s.logicalrelid = 'sessions.store'::regclass AND n.nodeport = $2 ORDER BY 1 LIMIT 1")
cq $db -c "SELECT citus_move_shard_placement($sid, '$PGHOST', $2, '$PGHOST', $3, shard_transfer_mode => 'block_writes')" >/dev/null
ok $? "a store shard moves from worker 1 to worker 2"
is "$(cq $db -c "SELECT count(DISTINCT n.nodeport) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                  WHERE s.shardid IN (SELECT s2.shardid FROM pg_dist_shard s2 JOIN pg_dist_partition d USING (logicalrelid)
                                       WHERE d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'sessions.store'::regclass)
                                         AND s2.shardminvalue = (SELECT shardminvalue FROM pg_dist_shard WHERE shardid = $sid))")" 1 \
   "its co-located shards (preferences, links, secrets, leases, rejects, summaries) moved with it"
is "$(cq $db -c "SELECT count(*), sum(kwh), count(DISTINCT namespace) FROM sessions.store")" "$before" "every row is still there after the move"
# A coordinator without workers: distribute() refuses (55000) and changes
# nothing.
nw=c_distribute_noworker
PGOPTIONS='-c client_min_messages=warning' psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $nw WITH (FORCE)" -c "CREATE DATABASE $nw" >/dev/null
cq $nw -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION session_analytics" >/dev/null
like "$(cq $nw -c "SELECT * FROM sessions.distribute()" 2>&1 | tr '\n' ' ')" "not the Citus coordinator.*citus_set_coordinator_host" \
     "a node not registered as the coordinator refuses (55000), the hint says how to register it"
set -- $SA_CITUS_PORTS
cq $nw -c "SELECT citus_set_coordinator_host('$PGHOST', $1)" >/dev/null
err=$(cq $nw -c "SELECT * FROM sessions.distribute()" 2>&1)
is "$(grep -o 'the cluster has no active worker' <<<"$err"):$(cq $nw -c "SELECT count(*) FROM pg_dist_partition")" \
   "the cluster has no active worker:0" "a coordinator without workers refuses (55000) and distributes nothing"

