#!/usr/bin/env bash
# Removing the extension from a distributed install (docs/scale-out.md):
# DROP EXTENSION ... CASCADE on the coordinator removes Citus's metadata and
# the extension on every node, but the shards on the workers are no member
# of the extension there; dropping the schema on every node removes them.
# Afterwards the extension installs and distributes again.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 7
db=c_drop
citus_db $db
cq $db -c "INSERT INTO sessions.store (kind, namespace, external_id, status) SELECT 'invoice', 'ns' || (i % 5), 'r' || i, 'OPEN' FROM generate_series(1, 50) i" \
       -c "SELECT count(*) FROM sessions.distribute()" >/dev/null
like "$(cq $db -c "DROP EXTENSION session_analytics" 2>&1)" "depends on" "a plain DROP EXTENSION refuses: the coordinator's reference-table placements depend on it"
cq $db -c "SET client_min_messages = warning" -c "DROP EXTENSION session_analytics CASCADE" >/dev/null; ok $? "DROP EXTENSION ... CASCADE on the coordinator"
is "$(cq $db -c "SELECT count(*) FROM pg_dist_partition")" 0 "no distributed table is left in Citus's metadata"
is "$(wq 1 $db -c "SELECT count(*) FROM pg_extension WHERE extname = 'session_analytics'")" 0 "the extension is gone on the workers"
cq $db -c "SET client_min_messages = warning" -c "SELECT run_command_on_workers('DROP SCHEMA IF EXISTS sessions CASCADE')" \
       -c "DROP SCHEMA IF EXISTS sessions CASCADE" >/dev/null
is "$(wq 1 $db -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'sessions'"):$(wq 2 $db -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'sessions'"):$(cq $db -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'sessions'")" \
   "0:0:0" "dropping the schema on every node leaves no shard behind"
cq $db -c "CREATE EXTENSION session_analytics" -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "the extension installs and distributes again"
is "$(cq $db -c "SELECT count(*) FROM sessions.store")" 0 "empty, on the cluster"
