#!/usr/bin/env bash
# Debian's prometheus-postgres-exporter with contrib/prometheus/queries.yaml,
# on a loopback port against a cluster of its own, connected as a login role
# that is only a member of session_analytics_reader: /metrics has
# sessions_total{kind,data_source,state}, sessions_ended_total and
# sessions_expired_total with the values sessions.metrics() gives, and the
# Stream API's name with queries-stream-api.yaml.
. "$(dirname "$0")/tap.sh"
. "$SA_SRC/tools/pgcluster.sh"
plan 14

EXPORTER=$(command -v prometheus-postgres-exporter)
pgc_init "$SA_TEST_DIR/prometheus"
PGC_BIN=$(dirname "$(command -v postgres)")
pgc_start
ok $? "cluster starts"
T=$PGC_DIR/t
mkdir -p "$T"
q() { psql -X -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION session_analytics" \
  -c "CREATE ROLE sessions_exporter LOGIN IN ROLE session_analytics_reader" \
  -c "INSERT INTO sessions.role_namespace VALUES ('sessions_exporter', '*')" >/dev/null
ok $? "extension, and an exporter role in session_analytics_reader mapped to every namespace"

# Telemetry: 2 live, 1 ended and 1 expired in DataSource, 1 live in Car2;
# invoice-style: 1 open and 1 past its deadline (expired on read).
q >/dev/null <<'SQL'
SELECT sessions.create_session('DataSource') FROM generate_series(1, 2);
SELECT sessions.end_session(sessions.create_session('DataSource'));
SELECT sessions.create_session('DataSource', valid_until => now() - interval '1 second',
                               creation_time => now() - interval '1 minute');
SELECT sessions.create_session('Car "2"');
SELECT sessions.open_session('online');
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until, doc)
VALUES ('invoice', 'batch', 'late-ref', 'OPEN', now() - interval '1 hour', now() - interval '1 minute', '{"status_code": 100}');
SQL

# A free loopback port: bind to port 0 and let the kernel choose.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# scrape QUERIES OUT: runs the exporter on 127.0.0.1 with QUERIES, saves
# /metrics to OUT (10 s at most), stops it.
scrape() {
    local port pid i rc=1
    port=$(free_port)
    DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=sessions_exporter dbname=postgres sslmode=disable" \
        "$EXPORTER" --web.listen-address="127.0.0.1:$port" --extend.query-path="$1" \
        --disable-default-metrics --disable-settings-metrics >"$2.log" 2>&1 &
    pid=$!
    for i in $(seq 1 50); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" -o "$2" 2>/dev/null && grep -q '^pg_up 1' "$2"; then
            rc=0; break
        fi
        sleep 0.2
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return $rc
}
# samples FILE PREFIX: "name{kind,data_source,state} value" lines, sorted, for
# the metrics whose name starts with PREFIX; labels in a fixed order, the
# exporter's own (server) left out.
samples() {
    python3 - "$1" "$2" <<'PY'
import re, sys
out = []
for line in open(sys.argv[1]):
    m = re.match(r'^(%s[a-z_]*)\{(.*)\} (\S+)$' % re.escape(sys.argv[2]), line.strip())
    if not m:
        continue
    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
    keys = [k for k in ("kind", "data_source", "state") if k in labels]
    out.append("%s{%s} %s" % (m.group(1), ",".join('%s="%s"' % (k, labels[k]) for k in keys),
                              "%g" % float(m.group(3))))
print("\n".join(sorted(out)))
PY
}

scrape "$SA_SRC/contrib/prometheus/queries.yaml" "$T/metrics"
ok $? "the exporter serves /metrics on a loopback port, connected (pg_up 1)"
unlike "$(cat "$T/metrics.log")" 'level=error' "the exporter logs no error (queries.yaml parsed and run)"
got=$(samples "$T/metrics" sessions_)
like "$got" '^sessions_total\{kind="telemetry",data_source="DataSource",state="live"\} 2$' "sessions_total: 2 live telemetry sessions"
like "$got" 'sessions_total\{kind="telemetry",data_source="DataSource",state="expired"\} 1' "sessions_total: 1 expired"
like "$got" 'sessions_total\{kind="invoice",data_source="batch",state="expired"\} 1' "an invoice session past its deadline counts as expired before any worker wrote it"
like "$got" 'sessions_ended_total\{kind="telemetry",data_source="DataSource"\} 2' "sessions_ended_total counts expiry too"
like "$got" 'sessions_expired_total\{kind="telemetry",data_source="DataSource"\} 1' "sessions_expired_total"
# Every sample agrees with sessions.metrics() read by the same role.
q -c "SET ROLE sessions_exporter" -c "SELECT sessions.metrics()" >"$T/sql_metrics"
is "$got" "$(samples "$T/sql_metrics" sessions_)" "every sample equals sessions.metrics() for the exporter's role"

scrape "$SA_SRC/contrib/prometheus/queries-stream-api.yaml" "$T/stream"
ok $? "the exporter runs with queries-stream-api.yaml"
is "$(samples "$T/stream" stream_api_sessions_)" "$(samples "$T/sql_metrics" sessions_total | sed 's/^sessions_total/stream_api_sessions_total/')" \
   "stream_api_sessions_total has the values of sessions_total"

# Both names at once: the two files concatenated, as docs/lifecycle.md shows.
cat "$SA_SRC/contrib/prometheus/queries.yaml" "$SA_SRC/contrib/prometheus/queries-stream-api.yaml" >"$T/both.yaml"
scrape "$T/both.yaml" "$T/both"
ok $? "the exporter runs with the two files concatenated"
is "$(samples "$T/both" stream_api_sessions_ | wc -l) $(samples "$T/both" sessions_total | wc -l)" "6 6" \
   "and serves both stream_api_sessions_total and sessions_total"
pgc_stop
