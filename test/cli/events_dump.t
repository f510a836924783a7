#!/usr/bin/env bash
# Event numbers survive pg_dump / pg_restore: the sequence value is dumped, so
# listener positions saved before a restore stay valid after it.
. "$(dirname "$0")/tap.sh"
plan 3

fresh_db ev_dump_src
psql -X -q -d ev_dump_src -v ON_ERROR_STOP=1 -c "
INSERT INTO sessions.store (kind, namespace, status) SELECT 'telemetry', 'ds', 'LIVE' FROM generate_series(1, 50);
UPDATE sessions.store SET ended_at = now(), status = 'ENDED';"
before=$(psql -X -At -d ev_dump_src -c "SELECT max(seq) FROM sessions.event_log")
is "$before" 100 "100 events before the dump"
pg_dump -Fc -d ev_dump_src -f "$SA_TEST_DIR/ev_dump.dump"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ev_dump_dst WITH (FORCE)" -c "CREATE DATABASE ev_dump_dst"
pg_restore -d ev_dump_dst --exit-on-error "$SA_TEST_DIR/ev_dump.dump"; ok $? "restored"
psql -X -q -d ev_dump_dst -c "INSERT INTO sessions.store (kind, namespace, status) VALUES ('telemetry', 'ds', 'LIVE')"
after=$(psql -X -At -d ev_dump_dst -c "SELECT seq FROM sessions.events_since($before)")
is "$after" 101 "the first event after the restore continues the numbering"
psql -X -q -d postgres -c "DROP DATABASE ev_dump_src WITH (FORCE)" -c "DROP DATABASE ev_dump_dst WITH (FORCE)"
