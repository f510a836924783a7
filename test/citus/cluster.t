#!/usr/bin/env bash
# The harness itself: three nodes, Citus on each, session_analytics
# propagated from the coordinator to the workers.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 4
citus_db c_cluster; ok $? "a database with citus on every node and the workers registered"
is "$(cq c_cluster -c "SELECT count(*) FROM pg_catalog.pg_dist_node WHERE isactive")" 3 "coordinator and two workers are active nodes"
is "$(wq 1 c_cluster -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'session_analytics'")" \
   "$(cq c_cluster -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'session_analytics'")" "worker 1 has the extension of the coordinator's version"
is "$(wq 2 c_cluster -c "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'session_analytics'")" 1 "worker 2 has the extension"
