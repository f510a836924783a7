# shellcheck shell=bash
# Helpers of the test/cli/*.t scripts that run a cluster of their own with
# the library preloaded (notifier_cluster.t, notifier_faults.t,
# worker_backoff.t). Source after tap.sh.
. "$SA_SRC/tools/pgcluster.sh"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
_cluster_lib=$(dirname "${BASH_SOURCE[0]}")

# cluster_start NAME SETTING...: a cluster in $SA_TEST_DIR/NAME with the
# library preloaded and the given postgresql.conf lines, started on an empty
# server log (an earlier run's log would satisfy the log checks); scratch
# directory T. Returns pgc_start's status.
cluster_start() {
    local rc
    pgc_init "$SA_TEST_DIR/$1"
    shift
    rm -f "$PGC_DIR/server.log"
    PGC_BIN=$(dirname "$(command -v postgres)")
    pgc_start "shared_preload_libraries = 'session_analytics'" "$@"
    rc=$?
    T=$PGC_DIR/t
    mkdir -p "$T"
    return $rc
}
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

# wait_for SQL WANT: until SQL returns WANT (20 s at most).
wait_for() {
    local i
    for i in $(seq 1 200); do
        [ "$(q -c "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
notifier_pid() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'session_analytics notifier'"; }

# listen_start OUT MARKER_NS: lib/listen.py in the background (LP) writing to
# OUT until an event of namespace MARKER_NS; returns once it listens.
listen_start() {
    rm -f "$1.ready"
    /usr/bin/python3 "$_cluster_lib/listen.py" "$1" "sessions_start_$2" &
    LP=$!
    for _ in $(seq 1 100); do [ -e "$1.ready" ] && break; sleep 0.05; done
}
marker() { q -c "INSERT INTO sessions.store (kind, namespace, status) VALUES ('telemetry', '$1', 'LIVE')" >/dev/null; }
# check OUT AFTER_SEQ: lib/check.py, "ok" or why not.
check() { /usr/bin/python3 "$_cluster_lib/check.py" "$1" "$2"; }
# listen_round NAME TAG N: listen_start to $T/NAME until marker done_NAME,
# writer TAG N, the marker; returns the listener's exit status.
listen_round() {
    listen_start "$T/$1" "done_$1"
    writer "$2" "$3"
    marker "done_$1"
    wait $LP
}
