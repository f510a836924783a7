#!/usr/bin/env bash
# The signing key on a worker added after distribute() (docs/lifecycle.md,
# "On a Citus cluster"): until distribute() runs again the new node has no
# copy of the key and refuses to sign or verify (55000); then it holds the
# same key, the binding gains its entry without changing the others, and
# documents signed before verify there. The fourth node is a throwaway
# server of its own (tools/pgcluster.sh), added to this test's database only.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 7
db=c_lkey_node
citus_db $db
cq $db -c "SELECT count(*) FROM sessions.distribute()" >/dev/null
cq $db -c "SELECT sessions.open_session('online', '1 day', 'N-' || g) FROM generate_series(1, 2) g" >/dev/null
st=$(cq $db -c "SELECT sessions.session_state('N-1')")
bind0=$(cq $db -c "SELECT node_databases FROM sessions.lifecycle_key")
key0=$(cq $db -c "SELECT md5(hmac_key) FROM sessions.lifecycle_key")

# The fourth node: its own socket directory, the same settings as the others.
saved="$PGHOST $PGPORT $PGUSER"
. "$SA_SRC/tools/pgcluster.sh"
pgc_init "$SA_TEST_DIR/lifecycle_key_node"
PGC_BIN=$(dirname "$(command -v postgres)")
pgc_start "shared_preload_libraries = 'citus,session_analytics'" "max_prepared_transactions = 20" \
          "citus.local_hostname = '$PGC_DIR/sock'" "wal_level = logical"
ok $? "a fourth node starts"
read -r PGHOST PGPORT PGUSER <<<"$saved"
export PGHOST PGPORT PGUSER
n4() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$PGC_SOCK" -p 5432 "$@"; }
n4 -d postgres -c "CREATE DATABASE c_lkey_node_pad" -c "CREATE DATABASE $db" >/dev/null &&
    PGOPTIONS='-c client_min_messages=warning' n4 -d $db -c "CREATE EXTENSION citus" >/dev/null &&
    cq $db -c "SELECT pg_catalog.citus_add_node('$PGC_SOCK', 5432)" >/dev/null
ok $? "added to the cluster"
like "$(n4 -d $db -c "SELECT sessions.resume_session('$st')" 2>&1)" 'this node has no copy of the signing key' \
     "before distribute() runs again the new node has no copy of the key: it verifies nothing (55000)"
cq $db -c "SELECT count(*) FROM sessions.distribute()" >/dev/null
oid4=$(n4 -d postgres -c "SELECT oid FROM pg_database WHERE datname = '$db'")
group4=$(cq $db -c "SELECT groupid FROM pg_dist_node WHERE nodename = '$PGC_SOCK'")
is "$(cq $db -c "SELECT node_databases FROM sessions.lifecycle_key")" \
   "$(sed "s/}\$/, \"$group4\": $oid4}/" <<<"$bind0")" "distribute() again binds the key to the new node's database, the other entries unchanged"
is "$(n4 -d $db -c "SELECT md5(hmac_key) || ' ' || pg_relation_size('sessions.lifecycle_key') FROM sessions.lifecycle_key")" "$key0 0" \
   "the new node holds the same key, and not the one its CREATE EXTENSION made"
is "$(n4 -d $db -c "SELECT sessions.resume_session('$st') ->> 'reference'")" N-1 \
   "a document signed before the node was added resumes on it"
st4=$(n4 -d $db -c "SELECT sessions.session_state('N-2')")
is "$(cq $db -c "SELECT sessions.resume_session('$st4') ->> 'reference'"):$(wq 1 $db -c "SELECT sessions.resume_session('$st4') ->> 'reference'")" "N-2:N-2" \
   "one signed on the new node verifies on the coordinator and on worker 1"

# This test's database only knew the fourth node: drop it on every node.
for p in $SA_CITUS_PORTS; do
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -p "$p" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
done
pgc_stop
