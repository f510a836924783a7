#!/usr/bin/env bash
# The signing key on the cluster (issue 15; docs/lifecycle.md, "On a Citus
# cluster"): after distribute() lifecycle_key is a reference table bound to
# the database of every node; state documents and continuation tokens
# signed on any node (or on the coordinator before distribute()) verify on
# every node; rotation through the coordinator reaches the backends of
# every node; the key stays unreadable to tenants on the workers; a copy of
# the cluster's database signs and verifies nothing until its key is
# rotated, and then nothing crosses between the copy and the original.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 31
db=c_lkey copy=c_lkey_copy
set -- $SA_CITUS_PORTS
ports=("$@")
# nq N DB SQL...: on node N (0 the coordinator, 1 and 2 the workers).
nq() { local n=$1; shift; if [ "$n" = 0 ]; then cq "$@"; else wq "$n" "$@"; fi; }
# st N DB SQL: "ok" when SQL succeeds on node N, else its SQLSTATE.
st() {
    local out
    out=$(nq "$1" "$2" -v VERBOSITY=verbose -c "$3" 2>&1 >/dev/null) && { echo ok; return; }
    sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1
}
# on_all DB SQL: SQL's one-line answer on nodes 0, 1 and 2, space separated.
on_all() { local n; for n in 0 1 2; do nq $n "$1" -c "$2" 2>&1 | head -1; done | paste -sd' '; }
oid_on() { nq "$1" postgres -c "SELECT oid FROM pg_database WHERE datname = '$2'"; }

# Databases whose OIDs differ between the nodes: the framing must not be
# each node's own OID.
for p in "${ports[@]:1}"; do
    psql -X -q -p "$p" -d postgres -c "DROP DATABASE IF EXISTS c_lkey_pad" -c "CREATE DATABASE c_lkey_pad" 2>/dev/null
done
citus_db $db
oids="$(oid_on 0 $db) $(oid_on 1 $db) $(oid_on 2 $db)"
ok $([ "$(oid_on 0 $db)" != "$(oid_on 1 $db)" ] && [ "$(oid_on 0 $db)" != "$(oid_on 2 $db)" ]; echo $?) \
   "the database has another OID on each worker than on the coordinator ($oids)"

# Signed on the coordinator before distribute().
cq $db -c "SELECT sessions.open_session('online', '1 day', 'K-' || g) FROM generate_series(1, 4) g" >/dev/null
st0=$(cq $db -c "SELECT sessions.session_state('K-1')")
tok0=$(cq $db -c "SELECT continuation FROM sessions.list_sessions('online', page_size => 1)")
key0=$(cq $db -c "SELECT md5(hmac_key) FROM sessions.lifecycle_key")

like "$(cq $db -c "SELECT relation || ' ' || distribution FROM sessions.distribute()")" "sessions.lifecycle_key reference" \
     "distribute(): lifecycle_key is a reference table"
is "$(cq $db -c "SELECT node_databases FROM sessions.lifecycle_key")" \
   "$(printf '{"0": %s, "1": %s, "2": %s}' $oids)" "the key is bound to the database OID of every node (by Citus group)"
is "$(on_all $db "SELECT md5(hmac_key) FROM sessions.lifecycle_key")" "$key0 $key0 $key0" \
   "every node holds the key the coordinator had (read through its placement)"
shard=$(cq $db -c "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'sessions.lifecycle_key'::regclass")
is "$(on_all $db "SELECT count(*) FROM sessions.lifecycle_key_$shard")" "1 1 1" \
   "each node's placement lifecycle_key_$shard holds the row"
is "$(on_all $db "SELECT pg_relation_size('sessions.lifecycle_key')")" "0 0 0" \
   "and no node's shell table keeps a key (the workers' own, made at CREATE EXTENSION, are gone)"

# Verified on every node: what was signed before, on the coordinator, on a worker.
refs() { on_all $db "SELECT sessions.resume_session('$1') ->> 'reference'"; }
page() { on_all $db "SELECT count(*) FROM sessions.list_sessions('online', page_size => 1, continuation => '$1') l, jsonb_array_elements(l.items)"; }
is "$(refs "$st0")" "K-1 K-1 K-1" "a state document signed before distribute() resumes on the coordinator and on both workers"
is "$(page "$tok0")" "1 1 1" "a continuation token signed before distribute() pages on every node"
st_c=$(cq $db -c "SELECT sessions.session_state('K-2')")
tok_c=$(cq $db -c "SELECT continuation FROM sessions.list_sessions('online', page_size => 2)")
is "$(refs "$st_c")" "K-2 K-2 K-2" "signed on the coordinator: the state document verifies on every node"
is "$(page "$tok_c")" "1 1 1" "and the token"
cur=$(cq $db -c "SELECT k FROM sessions.continuation_cursor('$tok_c', md5('online'))")
is "$(on_all $db "SELECT k FROM sessions.continuation_cursor('$tok_c', md5('online'))")" "$cur $cur $cur" \
   "continuation_cursor called directly on each node: the same position ($cur)"
st_w=$(wq 1 $db -c "SELECT sessions.session_state('K-3')")
tok_w=$(wq 1 $db -c "SELECT continuation FROM sessions.list_sessions('online', page_size => 3)")
is "$(refs "$st_w")" "K-3 K-3 K-3" "signed on worker 1: the state document verifies on the coordinator and worker 2"
is "$(page "$tok_w")" "1 1 1" "and the token"
is "$(wq 2 $db -c "SELECT sessions.session_state('K-3') = '$st_w'::jsonb")" t "worker 2 signs the same document as worker 1"

# The key stays out of tenants' reach on the workers; they verify all the same.
cq $db -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS c_lkey_reader" -c "CREATE ROLE c_lkey_reader IN ROLE session_analytics_reader" \
       -c "INSERT INTO sessions.role_namespace VALUES ('c_lkey_reader', 'online')" >/dev/null
is "$(st 1 $db "SET ROLE c_lkey_reader; SELECT * FROM sessions.lifecycle_key")" 42501 "a reader on a worker cannot read the key table"
is "$(st 1 $db "SET ROLE c_lkey_reader; SELECT * FROM sessions.lifecycle_key_$shard")" 42501 "nor the placement that holds the key"
is "$(wq 1 $db -c "SET ROLE c_lkey_reader" -c "SELECT sessions.resume_session('$st_c') ->> 'reference'")" K-2 \
   "yet it resumes a document there (the key is read without ACL)"
is "$(st 2 $db "SET ROLE c_lkey_reader; SELECT sessions.rotate_lifecycle_key()")" 42501 "nor may it rotate the key"

# Rotation through the coordinator: backends that hold the old key on
# every node (long-lived dblink connections) stop using it.
cq $db -c "CREATE EXTENSION IF NOT EXISTS dblink" >/dev/null 2>&1
rot=$(cq $db <<SQL 2>&1
SET client_min_messages = error;
SELECT dblink_connect('n0', 'host=$PGHOST port=${ports[0]} dbname=$db user=$PGUSER'),
       dblink_connect('n1', 'host=$PGHOST port=${ports[1]} dbname=$db user=$PGUSER'),
       dblink_connect('n2', 'host=$PGHOST port=${ports[2]} dbname=$db user=$PGUSER') \gset
CREATE FUNCTION pg_temp.on_node(conn text, sql text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE r text;
BEGIN
    SELECT t.r INTO r FROM dblink(conn, sql) t(r text);
    RETURN r;
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END \$\$;
CREATE FUNCTION pg_temp.everywhere(sql text) RETURNS text LANGUAGE sql AS \$\$
    SELECT string_agg(pg_temp.on_node(c, sql), ' ' ORDER BY c) FROM unnest(ARRAY['n0', 'n1', 'n2']) c
\$\$;
SELECT sessions.session_state('K-4') AS st1 \gset
SELECT pg_temp.everywhere(format('SELECT sessions.resume_session(%L) ->> ''reference''', :'st1'));
SELECT pg_temp.everywhere('SELECT pg_backend_pid()::text') AS pids \gset
SELECT sessions.rotate_lifecycle_key() IS NULL AS rotated \gset
SELECT pg_temp.everywhere(format('SELECT sessions.resume_session(%L) ->> ''reference''', :'st1'));
SELECT sessions.session_state('K-4') AS st2 \gset
SELECT pg_temp.everywhere(format('SELECT sessions.resume_session(%L) ->> ''reference''', :'st2'));
SELECT pg_temp.everywhere('SELECT pg_backend_pid()::text') = :'pids';
SQL
)
is "$rot" "K-4 K-4 K-4
22023 22023 22023
K-4 K-4 K-4
t" "rotation on the coordinator: the same backends on every node refuse the old document at once and accept a new one"
key1=$(cq $db -c "SELECT md5(hmac_key) FROM sessions.lifecycle_key")
is "$(on_all $db "SELECT md5(hmac_key) FROM sessions.lifecycle_key")" "$key1 $key1 $key1" "one new key on every node"
ok $([ "$key1" != "$key0" ]; echo $?) "and it is not the old one"
is "$(cq $db -c "SELECT node_databases FROM sessions.lifecycle_key")" "$(printf '{"0": %s, "1": %s, "2": %s}' $oids)" \
   "rotation binds it to the same databases"
is "$(for n in 0 1 2; do st $n $db "SELECT sessions.resume_session('$st_c')"; done | paste -sd' ')" "22023 22023 22023" \
   "documents signed before the rotation are refused on every node"
is "$(st 1 $db "SELECT sessions.rotate_lifecycle_key()")" 55000 "rotation on a worker is refused (55000): the coordinator rotates"

# distribute() again: nothing changes.
cq $db -c "SELECT count(*) FROM sessions.distribute()" >/dev/null
is "$(cq $db -c "SELECT md5(hmac_key) || ' ' || node_databases FROM sessions.lifecycle_key")" \
   "$key1 $(printf '{"0": %s, "1": %s, "2": %s}' $oids)" "distribute() again keeps the key and its binding"
st2=$(wq 2 $db -c "SELECT sessions.session_state('K-4')")
is "$(refs "$st2")" "K-4 K-4 K-4" "and what was signed stays valid"

# A copy of the cluster's database (CREATE DATABASE ... TEMPLATE on every
# node, connections to the original closed first): same rows, other OIDs.
for p in "${ports[@]}"; do
    psql -X -q -p "$p" -d postgres -c "SET client_min_messages = error" -c "DROP DATABASE IF EXISTS $copy WITH (FORCE)" \
         -c "ALTER DATABASE $db WITH ALLOW_CONNECTIONS false" \
         -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
done
made=0
for p in "${ports[@]}"; do
    for _ in 1 2 3 4 5; do
        psql -X -q -p "$p" -d postgres -c "SET client_min_messages = error" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db'" \
             -c "CREATE DATABASE $copy TEMPLATE $db" >/dev/null 2>&1 && { made=$((made + 1)); break; }
        sleep 0.2
    done
    psql -X -q -p "$p" -d postgres -c "ALTER DATABASE $db WITH ALLOW_CONNECTIONS true" >/dev/null
done
is "$made" 3 "the database copied on every node"
is "$(for n in 0 1 2; do st $n $copy "SELECT sessions.resume_session('$st2')"; done | paste -sd' ')" "55000 55000 55000" \
   "in the copy, no node verifies the original's document (the key is bound to the original's databases)"
is "$(for n in 0 1 2; do st $n $copy "SELECT sessions.session_state('K-4')"; done | paste -sd' ')" "55000 55000 55000" \
   "nor signs anything"
cq $copy -c "SELECT count(*) FROM sessions.distribute()" >/dev/null 2>&1
is "$(st 1 $copy "SELECT sessions.session_state('K-4')")" 55000 "distribute() in the copy does not re-bind the original's key"
cq $copy -c "SELECT sessions.rotate_lifecycle_key()" >/dev/null
st_copy=$(wq 1 $copy -c "SELECT sessions.session_state('K-4')")
is "$(for n in 0 1 2; do st $n $copy "SELECT sessions.resume_session('$st_copy')"; done | paste -sd' ') $(st 0 $copy "SELECT sessions.resume_session('$st2')") $(st 2 $db "SELECT sessions.resume_session('$st_copy')")" \
   "ok ok ok 22023 22023" \
   "after its owner rotates the copy's key, the copy signs and verifies its own, refuses the original's, and the original refuses the copy's"
for p in "${ports[@]}"; do
    psql -X -q -p "$p" -d postgres -c "DROP DATABASE IF EXISTS $copy WITH (FORCE)" -c "DROP DATABASE IF EXISTS c_lkey_pad" >/dev/null 2>&1
done
