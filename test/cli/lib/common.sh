# shellcheck shell=bash
# Helpers shared by the test/cli/*.t scripts that write sessions and wait for
# a listener. Source after tap.sh. writer and q use $DB (default postgres).

# listen_db NAME: a fresh database NAME with the extension (DB), an empty
# scratch directory $SA_TEST_DIR/NAME (T), and q SQL for one-line queries.
listen_db() {
    DB=$1
    fresh_db "$DB"
    T=$SA_TEST_DIR/$1
    rm -rf "$T"; mkdir -p "$T"
    q() { psql -X -q -At -d "$DB" -c "$1"; }
}

# writer TAG N: N sessions started and ended, each statement its own
# transaction; a pause of WRITER_PAUSE s (0.02) after every WRITER_EVERY-th
# session (10) lets commits interleave. WRITER_ERR takes psql's stderr.
writer() {
    local i
    for i in $(seq 1 "$2"); do
        echo "INSERT INTO sessions.store (kind, namespace, external_id, status, started_at) VALUES ('invoice', 'online', '$1-$i', 'OPEN', clock_timestamp());"
        echo "UPDATE sessions.store SET status = 'CLOSED', ended_at = clock_timestamp() WHERE external_id = '$1-$i';"
        [ $((i % ${WRITER_EVERY:-10})) -eq 0 ] && echo "SELECT pg_sleep(${WRITER_PAUSE:-0.02});"
    done | psql -X -q -d "${DB:-postgres}" -o /dev/null 2>"${WRITER_ERR:-/dev/stderr}"
}

# wait_lines FILE N [TENTHS]: until FILE has N lines (10 s by default).
wait_lines() {
    local i
    for i in $(seq 1 "${3:-100}"); do
        [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
