#!/usr/bin/env bash
# OCPI ingest: N generated Sessions through sessions.ocpi_put (validation in
# C, typed columns extracted, upsert) against the same typed rows through a
# plain INSERT ... ON CONFLICT DO UPDATE without validation, in the same run:
#   bulk         one statement over all staged rows, into an empty store and
#                again over the present rows (the update path);
#   ocpi_put_many  the bulk PUT: the same documents staged as one jsonb[] per
#                party (28 calls), new and update paths, against the plain
#                bulk upsert; also with the arrays built by array_agg in the
#                timed statement;
#   per session  one statement per session, as an OCPI backend calls it.
set -euo pipefail
N=$(awk -v s="${BENCH_SCALE:-1}" 'BEGIN { n = int(100000 * s); print (n < 1000 ? 1000 : n) }')
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

"${PSQL[@]}" -v n="$N" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_ocpi;
CREATE UNLOGGED TABLE bench_ocpi AS
SELECT cc, pid, sid, doc,
       upper(cc) || '-' || upper(pid) AS namespace, upper(sid) AS external_id,
       doc ->> 'status' AS status, (doc ->> 'start_date_time')::timestamptz AS started_at,
       (doc ->> 'end_date_time')::timestamptz AS ended_at, (doc ->> 'kwh')::float8 AS kwh,
       doc -> 'cdr_token' ->> 'contract_id' AS user_ref, doc ->> 'location_id' AS site,
       doc ->> 'evse_uid' AS evse, doc ->> 'connector_id' AS connector,
       (doc ->> 'last_updated')::timestamptz AS last_updated
  FROM (
    SELECT cc, pid, sid,
           jsonb_build_object(
             'country_code', cc, 'party_id', pid, 'id', sid,
             'start_date_time', to_char(t0, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'end_date_time', CASE WHEN done THEN to_char(t0 + interval '95 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
             'kwh', round((g % 600) / 10.0, 2),
             'cdr_token', jsonb_build_object('country_code', 'NL', 'party_id', 'TST', 'uid', 'U' || (g % 5000),
                                             'type', 'RFID', 'contract_id', 'NL-TST-C' || lpad((g % 5000)::text, 8, '0')),
             'auth_method', 'WHITELIST', 'location_id', 'LOC' || (g % 300), 'evse_uid', 'EVSE' || (g % 900),
             'connector_id', ((g % 2) + 1)::text, 'currency', 'EUR',
             'charging_periods', jsonb_build_array(
                 jsonb_build_object('start_date_time', to_char(t0, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                    'dimensions', jsonb_build_array(
                                        jsonb_build_object('type', 'ENERGY', 'volume', round((g % 600) / 10.0, 2)),
                                        jsonb_build_object('type', 'MAX_CURRENT', 'volume', 32)))),
             'total_cost', jsonb_build_object('excl_vat', round((g % 600) / 30.0, 2), 'incl_vat', round((g % 600) / 25.0, 2)),
             'status', CASE WHEN done THEN 'COMPLETED' ELSE 'ACTIVE' END,
             'last_updated', to_char(t0 + interval '96 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS doc
      FROM (SELECT g, (ARRAY['NL', 'BE', 'DE', 'FR'])[1 + g % 4] AS cc, 'P' || lpad((g % 7)::text, 2, '0') AS pid,
                   'S' || g AS sid, timestamptz '2025-01-01 00:00Z' + g * interval '37 s' AS t0, g % 5 <> 0 AS done
              FROM generate_series(1, :n) g) x
  ) y;
ANALYZE bench_ocpi;
-- The documents of each party as the array a bulk PUT receives; EXTERNAL:
-- not compressed, as the typed rows are not.
DROP TABLE IF EXISTS bench_ocpi_docs;
CREATE UNLOGGED TABLE bench_ocpi_docs (cc text, pid text, docs jsonb[]);
ALTER TABLE bench_ocpi_docs ALTER docs SET STORAGE EXTERNAL;
INSERT INTO bench_ocpi_docs SELECT cc, pid, array_agg(doc) FROM bench_ocpi GROUP BY cc, pid;
SQL

# Runs one timed statement (after a checkpoint), prints seconds.
timed() {
    "${PSQL[@]}" -c "CHECKPOINT" >/dev/null
    local t0 t1
    t0=$(date +%s.%N)
    "${PSQL[@]}" -c "$1" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

PUT="SELECT count(sessions.ocpi_put(cc, pid, sid, doc)) FROM bench_ocpi"
COLS="kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated, doc"
UPSERT="ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status,
         started_at = excluded.started_at, ended_at = excluded.ended_at, kwh = excluded.kwh,
         user_ref = excluded.user_ref, site = excluded.site, evse = excluded.evse,
         connector = excluded.connector, last_updated = excluded.last_updated, doc = excluded.doc"
PLAIN="INSERT INTO sessions.store AS s ($COLS)
       SELECT 'ocpi', namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse,
              connector, last_updated, doc FROM bench_ocpi $UPSERT"
# One statement per session, as an OCPI backend issues them (no client
# round trips: a PL/pgSQL loop runs each statement with a cached plan).
PUT_EACH="DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT * FROM bench_ocpi LOOP
            PERFORM sessions.ocpi_put(r.cc, r.pid, r.sid, r.doc); END LOOP; END \$\$"
PLAIN_EACH="DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT * FROM bench_ocpi LOOP
            INSERT INTO sessions.store AS s ($COLS) VALUES ('ocpi', r.namespace, r.external_id, r.status,
              r.started_at, r.ended_at, r.kwh, r.user_ref, r.site, r.evse, r.connector, r.last_updated, r.doc)
            $UPSERT; END LOOP; END \$\$"
MANY="SELECT count(*) FROM bench_ocpi_docs b, sessions.ocpi_put_many(b.cc, b.pid, b.docs) r WHERE r.status_code = 1000"
MANY_AGG="SELECT count(*) FROM (SELECT cc, pid, array_agg(doc) AS d FROM bench_ocpi GROUP BY cc, pid) g,
          sessions.ocpi_put_many(g.cc, g.pid, g.d) r WHERE r.status_code = 1000"
EMPTY="TRUNCATE sessions.store, sessions.ocpi_charging_preferences CASCADE"
Q=(psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning")

# The machine is shared: alternate the two paths and keep each one's best run.
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
plain_ins= put_ins= plain_each= put_each=
for round in 1 2 3; do
    "${Q[@]}" -c "$EMPTY"; plain_ins=$(best "$plain_ins" "$(timed "$PLAIN")")
    "${Q[@]}" -c "$EMPTY"; put_ins=$(best "$put_ins" "$(timed "$PUT")")
done
put_upd=$(timed "$PUT")
stored=$("${PSQL[@]}" -At -c "SELECT count(*) FROM sessions.store WHERE kind = 'ocpi'")
"${Q[@]}" -c "$EMPTY"; "${Q[@]}" -c "$PLAIN"; plain_upd=$(timed "$PLAIN")
for round in 1 2; do
    "${Q[@]}" -c "$EMPTY"; plain_each=$(best "$plain_each" "$(timed "$PLAIN_EACH")")
    "${Q[@]}" -c "$EMPTY"; put_each=$(best "$put_each" "$(timed "$PUT_EACH")")
done
# ocpi_put_many against the plain bulk upsert: ROUNDS interleaved rounds,
# each figure the median. Autovacuum of the store and the event log off while
# timing: an ANALYZE in the middle of a statement is noise.
"${Q[@]}" -c "ALTER TABLE sessions.store SET (autovacuum_enabled = off)" -c "ALTER TABLE sessions.event_log SET (autovacuum_enabled = off)"
ROUNDS=${BENCH_ROUNDS:-3}
median() { tr ' ' '\n' | awk NF | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_pi= m_pu= m_mi= m_mu= m_ai= m_au= many_bad=0
for round in $(seq "$ROUNDS"); do
    "${Q[@]}" -c "$EMPTY"; m_pi="$m_pi $(timed "$PLAIN")"; m_pu="$m_pu $(timed "$PLAIN")"
    "${Q[@]}" -c "$EMPTY"; m_mi="$m_mi $(timed "$MANY")"; m_mu="$m_mu $(timed "$MANY")"
    [ "$("${PSQL[@]}" -At -c "SELECT count(*) FROM sessions.store WHERE kind = 'ocpi'")" = "$N" ] || many_bad=1
    "${Q[@]}" -c "$EMPTY"; m_ai="$m_ai $(timed "$MANY_AGG")"; m_au="$m_au $(timed "$MANY_AGG")"
done
"${Q[@]}" -c "ALTER TABLE sessions.store RESET (autovacuum_enabled)" -c "ALTER TABLE sessions.event_log RESET (autovacuum_enabled)"
"${Q[@]}" -c "$EMPTY" -c "DROP TABLE bench_ocpi" -c "DROP TABLE bench_ocpi_docs"

echo "## OCPI ingest: $N sessions (stored after ocpi_put: $stored; best of 3 bulk / 2 per-session rounds)"
awk -v n="$N" -v pi="$plain_ins" -v pu="$plain_upd" -v oi="$put_ins" -v ou="$put_upd" \
    -v pe="$plain_each" -v oe="$put_each" 'BEGIN {
    f = "| %-54s | %8.2f | %9.0f | %16s |\n"
    printf "| %-54s | %8s | %9s | %16s |\n", "path", "seconds", "rows/s", "ocpi_put / plain"
    printf "|%s|%s|%s|%s|\n", "--------------------------------------------------------", "----------", "-----------", "------------------"
    printf f, "bulk, new rows: plain INSERT .. SELECT .. ON CONFLICT", pi, n / pi, ""
    printf f, "bulk, new rows: SELECT sessions.ocpi_put(..) FROM ..", oi, n / oi, sprintf("%.2f", pi / oi)
    printf f, "bulk, existing rows: plain (update path)", pu, n / pu, ""
    printf f, "bulk, existing rows: ocpi_put (update path)", ou, n / ou, sprintf("%.2f", pu / ou)
    printf f, "per session, new rows: plain INSERT .. ON CONFLICT", pe, n / pe, ""
    printf f, "per session, new rows: sessions.ocpi_put", oe, n / oe, sprintf("%.2f", pe / oe)
}'
echo
echo "### ocpi_put_many: medians of $ROUNDS interleaved rounds (all $N stored each round: $([ $many_bad = 0 ] && echo yes || echo NO))"
echo "rounds (s): plain new$m_pi; plain update$m_pu; many new$m_mi; many update$m_mu; many+array_agg new$m_ai; update$m_au; load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$N" -v pi="$(median <<<"$m_pi")" -v pu="$(median <<<"$m_pu")" -v mi="$(median <<<"$m_mi")" \
    -v mu="$(median <<<"$m_mu")" -v ai="$(median <<<"$m_ai")" -v au="$(median <<<"$m_au")" 'BEGIN {
    f = "| %-62s | %8.2f | %9.0f | %12s |\n"
    printf "| %-62s | %8s | %9s | %12s |\n", "path", "seconds", "rows/s", "vs plain"
    printf "|%s|%s|%s|%s|\n", "----------------------------------------------------------------", "----------", "-----------", "--------------"
    printf f, "new rows: plain INSERT .. SELECT .. ON CONFLICT", pi, n / pi, ""
    printf f, "new rows: ocpi_put_many, 28 calls of staged jsonb[]", mi, n / mi, sprintf("%.2f", pi / mi)
    printf f, "new rows: ocpi_put_many, arrays built by array_agg", ai, n / ai, sprintf("%.2f", pi / ai)
    printf f, "existing rows: plain (update path)", pu, n / pu, ""
    printf f, "existing rows: ocpi_put_many (update path)", mu, n / mu, sprintf("%.2f", pu / mu)
    printf f, "existing rows: ocpi_put_many, arrays by array_agg", au, n / au, sprintf("%.2f", pu / au)
}'
