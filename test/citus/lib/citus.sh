# shellcheck shell=bash
# Helpers of the test/citus/*.t scripts (make test-citus). tools/test-citus.sh
# starts a 3-node Citus cluster (coordinator + 2 workers, one private socket
# directory, ports naming the socket files) and exports:
#   PGHOST/PGPORT/PGUSER   the coordinator
#   SA_CITUS_PORTS         "coordinator worker1 worker2" ports
# Source after test/cli/tap.sh.

# cq DB SQL...: one-line answers (-At) of SQL run on the coordinator in DB.
cq() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# wq N DB SQL...: the same on worker N (1 or 2).
wq() {
    local n=$1 db=$2 port
    shift 2
    port=$(cut -d' ' -f$((n + 1)) <<<"$SA_CITUS_PORTS")
    psql -X -q -At -v ON_ERROR_STOP=1 -p "$port" -d "$db" "$@"
}

# citus_db NAME: a fresh database NAME on every node with the citus
# extension, the workers registered with the coordinator, session_analytics
# created on the coordinator (Citus propagates it to the workers). Not
# distributed yet: call sessions.distribute() for that.
citus_db() {
    local db=$1 port
    local PGOPTIONS='-c client_min_messages=warning'
    export PGOPTIONS
    for port in $SA_CITUS_PORTS; do
        psql -X -q -p "$port" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null || return 1
        psql -X -q -p "$port" -d "$db" -c "CREATE EXTENSION citus" >/dev/null || return 1
    done
    set -- $SA_CITUS_PORTS
    cq "$db" -c "SELECT pg_catalog.citus_set_coordinator_host('$PGHOST', $1)" \
             -c "SELECT pg_catalog.citus_add_node('$PGHOST', $2)" \
             -c "SELECT pg_catalog.citus_add_node('$PGHOST', $3)" \
             -c "CREATE EXTENSION session_analytics" >/dev/null
}

# single_db NAME: a fresh database NAME on the coordinator without Citus:
# the one-node run the cluster's answers are compared with.
single_db() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null &&
    psql -X -q -d "$1" -c "CREATE EXTENSION session_analytics" >/dev/null
}

# same ONE CLUSTER SQL NAME: SQL answers on the cluster's database CLUSTER
# what it answers on the one-node database ONE. Fails as well when the
# one-node answer is empty or an error, so two failures never pass as one.
same() {
    local one cl
    one=$(cq "$1" -c "$3" 2>&1)
    cl=$(cq "$2" -c "$3" 2>&1)
    if [ -z "$one" ] || grep -q 'ERROR' <<<"$one"; then
        _tap 1 "$4"; printf '#   one node gave no answer: %s\n' "$one" | head -5
    else
        is "$cl" "$one" "$4"
    fi
}

# both ONE CLUSTER SQL: runs SQL (a script on stdin when SQL is -) on both.
both() {
    local sql=$3
    [ "$sql" = - ] && sql=$(cat)
    cq "$1" -c "$sql" >/dev/null && cq "$2" -c "$sql" >/dev/null
}
