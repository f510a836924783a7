#!/usr/bin/env bash
# bench/ingest_ab.sh [REV]: issue 14's ingest figures as backend CPU time,
# every subject against its baseline alternated round by round in one
# throwaway cluster (docs/benchmarks.md, issue 14). Not part of `make bench`
# (its name has no NN- prefix).
#   - PowerFlex: COPY of the rows as jsonb (the floor: into a temporary
#     table, and into a plain one as bench/40-import.sh has it) against
#     sessions.import_powerflex of this tree and of REV (default 6f0481d, the
#     issue's baseline; its import body created as ab_old.import_powerflex,
#     calling this tree's row check), fed the 2,000-row batches the client
#     sends: new rows, the same file again, and a file whose every row changed.
#     This tree's import also runs with session_analytics.import_memory_retain
#     = 0 (the C library's own memory policy), with 0.2.0's (kind, last_updated) index in
#     place of the partial OCPI-only one (the index set before 0.3.0), and on
#     a store with only its two unique keys (store_events, the summary
#     triggers and both scan indexes off), and the import's unavoidable
#     parts alone: the parse of the batches, the row check, and one INSERT or
#     upsert of the checked rows: floor / their sum is the most any import
#     can reach.
#   - OCPI: sessions.ocpi_put_many (28 calls of staged jsonb[]) against a
#     plain INSERT ... SELECT ... ON CONFLICT of the typed rows, new and update;
#     sessions.ocpi_put per statement against a plain upsert per statement.
#   - The store write: the hand-written INSERT ... SELECT of bench/40-import.sh
#     with everything on, without the store_events trigger, without the
#     summary triggers, and without the two scan indexes.
# CPU time is the backend's on-CPU time (/proc/<pid>/schedstat), which time
# spent waiting for a core on a shared machine does not count. NPF and NOCPI
# (rows, default 50000) and ROUNDS (default 3) size it.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD REV=${1:-6f0481d}
NPF=${NPF:-50000} NOCPI=${NOCPI:-50000} ROUNDS=${ROUNDS:-3}
make -s >/dev/null
old_sql=$(mktemp)
git show "$REV:src/sql/30_powerflex.sql" | python3 -c '
import sys
s = sys.stdin.read()
i = s.index("CREATE FUNCTION sessions.import_powerflex("); j = s.index("$$;", i) + 3
print("CREATE SCHEMA ab_old;")
print(s[i:j].replace("CREATE FUNCTION sessions.", "CREATE FUNCTION ab_old.", 1))' >"$old_sql"
. tools/pgcluster.sh
pgc_init "$SRC/.test/ingest_ab"
pgc_stage
pgc_start "shared_buffers = 1GB" "work_mem = 64MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
          "synchronous_commit = off" "shared_preload_libraries = 'session_analytics'" "session_analytics.database = 'ab'"
export PATH=$PGC_BIN:$PATH PGOPTIONS="-c client_min_messages=warning"
DIR=$PGC_DIR/data_ab
mkdir -p "$DIR"
psql -X -q -c "CREATE DATABASE ab"; export PGDATABASE=ab
P=(psql -X -q -v ON_ERROR_STOP=1)
"${P[@]}" -c "CREATE EXTENSION session_analytics" -f "$old_sql"
rm -f "$old_sql"

# PowerFlex rows shaped like bench/40-import.sh's, and the batches the client sends.
python3 - "$NPF" "$DIR/rows.ndjson" <<'PY'
import json, random, sys
random.seed(1)
n = int(sys.argv[1])
with open(sys.argv[2], "w") as g:
    for i in range(n):
        start = 1735689600000 + random.randrange(365 * 86400) * 1000
        r = random.random()
        kwh = 0.0 if r < 0.6 else round(random.uniform(0.01, 0.99), 4) if r < 0.65 else round(random.uniform(1, 40), 5)
        row = {"session_id": "%07d_%08d" % (random.randrange(10**7), i), "reporting_id": 477000000 + i,
               "session_kwh": kwh, "session_start_time": start, "session_end_time": start + random.randrange(60, 36000) * 1000,
               "created_at": "2025-09-15T07:12:27.381Z", "updated_at": "2025-09-15T07:13:13.838Z", "status": "FINISHED",
               "user": "user%d@example.com" % random.randrange(5000), "vehicle": "2020 Tesla Model Y Performance AWD",
               "site": ["Downtown", "Airport", "Harbor"][i % 3], "cost_actual": round(kwh * 0.15, 2)}
        g.write(json.dumps(row).replace("\\", "\\\\") + "\n")
PY
chmod -R a+rX "$DIR"
"${P[@]}" <<SQL
CREATE TABLE pf (doc jsonb);
COPY pf FROM '$DIR/rows.ndjson';
CREATE TABLE pft (b int, t text);
ALTER TABLE pft ALTER t SET STORAGE EXTERNAL;
INSERT INTO pft SELECT n / 2000, jsonb_build_object('offset', (n / 2000) * 2000, 'rows', jsonb_agg(doc ORDER BY n))::text
  FROM (SELECT doc, row_number() OVER () - 1 AS n FROM pf) x GROUP BY 1;
CREATE TABLE pft2 (b int, t text);
ALTER TABLE pft2 ALTER t SET STORAGE EXTERNAL;
INSERT INTO pft2 SELECT b, replace(t, '2025-09-15T07:13:13.838Z', '2025-09-16T08:00:00.000Z') FROM pft;
-- The rows the import writes, checked and typed by its own first step.
CREATE TABLE pfty AS SELECT r.* FROM (SELECT * FROM pft ORDER BY b) p, sessions.powerflex_rows(p.t::jsonb -> 'rows', p.b * 2000, NULL) r
 WHERE r.problem IS NULL;
CREATE TABLE pfty2 AS SELECT r.* FROM (SELECT * FROM pft2 ORDER BY b) p, sessions.powerflex_rows(p.t::jsonb -> 'rows', p.b * 2000, NULL) r
 WHERE r.problem IS NULL;
SQL
# The OCPI documents of bench/10-ocpi_put.sh, typed and as one jsonb[] per party.
"${P[@]}" -v n="$NOCPI" <<'SQL'
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
CREATE UNLOGGED TABLE bench_ocpi_docs (cc text, pid text, docs jsonb[]);
ALTER TABLE bench_ocpi_docs ALTER docs SET STORAGE EXTERNAL;
INSERT INTO bench_ocpi_docs SELECT cc, pid, array_agg(doc) FROM bench_ocpi GROUP BY cc, pid;
ALTER TABLE sessions.store SET (autovacuum_enabled = off);
ALTER TABLE sessions.event_log SET (autovacuum_enabled = off);
SQL

# cpu SQL: the backend's on-CPU ms for SQL (after a checkpoint).
cpu() {
    "${P[@]}" -c CHECKPOINT
    "${P[@]}" -At <<SQL
SELECT pg_backend_pid() AS bpid \gset
SELECT split_part(pg_read_file('/proc/' || :bpid || '/schedstat'), ' ', 1)::bigint AS c0 \gset
\o /dev/null
$1;
\o
SELECT (split_part(pg_read_file('/proc/' || :bpid || '/schedstat'), ' ', 1)::bigint - :c0) / 1000000;
SQL
}
reset() {
    "${P[@]}" -c "TRUNCATE sessions.store, sessions.ocpi_charging_preferences CASCADE" -c "TRUNCATE sessions.event_log, sessions.import_rejects" \
              -c "VACUUM sessions.store" -c "VACUUM sessions.event_log" >/dev/null
}
med() { tr ' ' '\n' | awk NF | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

COPY="CREATE TEMP TABLE c (doc jsonb); COPY c FROM '$DIR/rows.ndjson'"
# The floor as bench/40-import.sh (and the issue) measured it: a plain table.
COPYP="DROP TABLE IF EXISTS cp; CREATE TABLE cp (doc jsonb); COPY cp FROM '$DIR/rows.ndjson'"
KEEP0="SET session_analytics.import_memory_retain = 0"
imp() { echo "SELECT sum(imported + updated) FROM (SELECT * FROM $2 ORDER BY b) p, $1.import_powerflex(p.t::jsonb)"; }
COLS="kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated, doc"
PLAIN="INSERT INTO sessions.store AS s ($COLS)
       SELECT 'ocpi', namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse,
              connector, last_updated, doc FROM bench_ocpi
       ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status,
         started_at = excluded.started_at, ended_at = excluded.ended_at, kwh = excluded.kwh,
         user_ref = excluded.user_ref, site = excluded.site, evse = excluded.evse,
         connector = excluded.connector, last_updated = excluded.last_updated, doc = excluded.doc"
MANY="SELECT count(*) FROM bench_ocpi_docs b, sessions.ocpi_put_many(b.cc, b.pid, b.docs) r WHERE r.status_code = 1000"
# One statement per session, as an OCPI backend issues them (PL/pgSQL loops
# over the first NEACH sessions, each statement with a cached plan).
NEACH=${NEACH:-20000}
PUT_EACH="DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT * FROM bench_ocpi ORDER BY sid LIMIT $NEACH LOOP
            PERFORM sessions.ocpi_put(r.cc, r.pid, r.sid, r.doc); END LOOP; END \$\$"
PLAIN_EACH="DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT * FROM bench_ocpi ORDER BY sid LIMIT $NEACH LOOP
            INSERT INTO sessions.store AS s ($COLS) VALUES ('ocpi', r.namespace, r.external_id, r.status,
              r.started_at, r.ended_at, r.kwh, r.user_ref, r.site, r.evse, r.connector, r.last_updated, r.doc)
            ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status,
              started_at = excluded.started_at, ended_at = excluded.ended_at, kwh = excluded.kwh,
              user_ref = excluded.user_ref, site = excluded.site, evse = excluded.evse,
              connector = excluded.connector, last_updated = excluded.last_updated, doc = excluded.doc; END LOOP; END \$\$"
INS="INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, last_updated, doc)
     SELECT 'powerflex', doc ->> 'site', doc ->> 'session_id', doc ->> 'status',
            to_timestamp((doc ->> 'session_start_time')::float8 / 1000), to_timestamp((doc ->> 'session_end_time')::float8 / 1000),
            (doc ->> 'session_kwh')::float8, doc ->> 'user', doc ->> 'site', (doc ->> 'updated_at')::timestamptz, doc FROM pf"
T="ALTER TABLE sessions.store"
# The import's unavoidable parts, each alone: the parse of the batches it is
# sent, that parse with its row check and typing (powerflex_rows), and one
# INSERT (new) or upsert (every row changed) of the rows already checked and
# typed. No import can cost less than the check plus the write.
PARSE="SELECT count(*) FROM pft WHERE t::jsonb IS NOT NULL"
CHECK="SELECT count(*) FROM (SELECT * FROM pft ORDER BY b) p, sessions.powerflex_rows(p.t::jsonb -> 'rows', p.b * 2000, NULL) r
       WHERE r.problem IS NULL"
TCOLS="kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, last_updated, doc"
TSEL="'powerflex', namespace, external_id, status, started_at, ended_at, kwh, user_ref, site_value, last_updated, r"
# The writes run as in an import's transaction, with its memory policy
# (session_analytics.import_memory_retain, set by the row check).
POLICY="BEGIN; SELECT count(*) FROM sessions.powerflex_rows('[]', 0, NULL)"
TYPED_NEW="$POLICY; INSERT INTO sessions.store ($TCOLS) SELECT $TSEL FROM pfty; COMMIT"
TYPED_CHANGED="$POLICY; INSERT INTO sessions.store AS s ($TCOLS) SELECT $TSEL FROM pfty2
       ON CONFLICT (namespace, kind, external_id) DO UPDATE SET status = excluded.status,
         started_at = excluded.started_at, ended_at = excluded.ended_at, kwh = excluded.kwh,
         user_ref = excluded.user_ref, site = excluded.site, last_updated = excluded.last_updated, doc = excluded.doc; COMMIT"
# The store's two scan indexes as 00_store.sql creates them, and 0.2.0's
# (kind, last_updated) index that the OCPI-only one replaced.
IDX_OCPI="CREATE INDEX store_ocpi_last_updated_idx ON sessions.store (last_updated) WHERE kind = 'ocpi'"
IDX_STARTED="CREATE INDEX store_started_at_idx ON sessions.store (started_at)"
IDX_WIDE="CREATE INDEX store_kind_last_updated_idx ON sessions.store (kind, last_updated)"
declare -A R
add() { R[$1]="${R[$1]:-} $2"; }
for round in $(seq "$ROUNDS"); do
    add copy "$(cpu "$COPY")"
    add copyp "$(cpu "$COPYP")"
    add parse "$(cpu "$PARSE")"; add check "$(cpu "$CHECK")"
    reset; add typed_new "$(cpu "$TYPED_NEW")"; add typed_changed "$(cpu "$TYPED_CHANGED")"
    reset; add old_new "$(cpu "$(imp ab_old pft)")"; add old_same "$(cpu "$(imp ab_old pft)")"; add old_changed "$(cpu "$(imp ab_old pft2)")"
    reset; add new_new "$(cpu "$(imp sessions pft)")"; add new_same "$(cpu "$(imp sessions pft)")"; add new_changed "$(cpu "$(imp sessions pft2)")"
    # The same import with the C library's own memory policy.
    reset; add keep0_new "$(cpu "$KEEP0; $(imp sessions pft)")"; add keep0_same "$(cpu "$KEEP0; $(imp sessions pft)")"
    add keep0_changed "$(cpu "$KEEP0; $(imp sessions pft2)")"
    # The same import with 0.2.0's (kind, last_updated) index in place of the
    # partial OCPI-only one, which PowerFlex rows do not enter.
    reset; "${P[@]}" -c "DROP INDEX sessions.store_ocpi_last_updated_idx" -c "$IDX_WIDE"
    add wide_new "$(cpu "$(imp sessions pft)")"; add wide_same "$(cpu "$(imp sessions pft)")"; add wide_changed "$(cpu "$(imp sessions pft2)")"
    "${P[@]}" -c "DROP INDEX sessions.store_kind_last_updated_idx" -c "$IDX_OCPI"
    # The same import on a store with only its two unique keys: no events, no
    # summaries, no scan indexes. No import on this store can beat this.
    reset; "${P[@]}" -c "$T DISABLE TRIGGER store_events, DISABLE TRIGGER summary_insert, DISABLE TRIGGER summary_update" \
                     -c "DROP INDEX sessions.store_ocpi_last_updated_idx, sessions.store_started_at_idx"
    add bare_new "$(cpu "$(imp sessions pft)")"; add bare_same "$(cpu "$(imp sessions pft)")"; add bare_changed "$(cpu "$(imp sessions pft2)")"
    reset; add tbare_new "$(cpu "$TYPED_NEW")"; add tbare_changed "$(cpu "$TYPED_CHANGED")"
    "${P[@]}" -c "$T ENABLE TRIGGER store_events, ENABLE TRIGGER summary_insert, ENABLE TRIGGER summary_update" \
              -c "$IDX_OCPI" \
              -c "$IDX_STARTED"
    reset; add plain_new "$(cpu "$PLAIN")"; add plain_upd "$(cpu "$PLAIN")"
    reset; add many_new "$(cpu "$MANY")"; add many_upd "$(cpu "$MANY")"
    reset; add plain_each "$(cpu "$PLAIN_EACH")"
    reset; add put_each "$(cpu "$PUT_EACH")"
    reset; add ins_all "$(cpu "$INS")"
    reset; "${P[@]}" -c "$T DISABLE TRIGGER store_events"; add ins_noev "$(cpu "$INS")"; "${P[@]}" -c "$T ENABLE TRIGGER store_events"
    reset; "${P[@]}" -c "$T DISABLE TRIGGER summary_insert"; add ins_nosum "$(cpu "$INS")"; "${P[@]}" -c "$T ENABLE TRIGGER summary_insert"
    reset; "${P[@]}" -c "DROP INDEX sessions.store_ocpi_last_updated_idx, sessions.store_started_at_idx"; add ins_noidx "$(cpu "$INS")"
    "${P[@]}" -c "$IDX_OCPI" \
              -c "$IDX_STARTED"
    echo "round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

echo "# issue 14 ingest A/B, $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); backend CPU ms, median of $ROUNDS rounds (before: $REV)"
echo "rounds:$(for k in "${!R[@]}"; do printf ' %s=[%s ]' "$k" "${R[$k]}"; done)"
m() { med <<<"${R[$1]}"; }
r() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN { printf "%.2f", a / b }'; }
echo "| figure | CPU ms | ratio |"
echo "|---|---:|---:|"
echo "| PowerFlex, $NPF rows: COPY as jsonb into a temporary table (floor) | $(m copy) | |"
echo "| COPY as jsonb into a plain table (bench/40-import.sh's floor) | $(m copyp) | |"
for k in new same changed; do
    echo "| import_powerflex before ($REV), $k | $(m old_$k) | $(r copy old_$k) (plain: $(r copyp old_$k)) |"
    echo "| import_powerflex after, with 0.2.0's (kind, last_updated) index, $k | $(m wide_$k) | $(r copy wide_$k) (plain: $(r copyp wide_$k)) |"
    echo "| import_powerflex after, import_memory_retain = 0, $k | $(m keep0_$k) | $(r copy keep0_$k) (plain: $(r copyp keep0_$k)) |"
    echo "| import_powerflex after, $k | $(m new_$k) | $(r copy new_$k) (plain: $(r copyp new_$k)); time $(r new_$k keep0_$k)x retain 0 |"
    echo "| import_powerflex after, on a store with only its unique keys (no events, summaries, scan indexes), $k | $(m bare_$k) | $(r copy bare_$k) (plain: $(r copyp bare_$k)) |"
done
echo "| the import's parts alone: parse of the batches (text to jsonb) | $(m parse) | $(r copy parse) |"
echo "| parse, row check and typing (powerflex_rows) | $(m check) | $(r copy check) |"
b() { awk -v f="$(m copy)" -v a="$(m check)" -v w="$(m "$1")" 'BEGIN { printf "%.2f", f / (a + w) }'; }
for k in new changed; do
    echo "| INSERT$([ $k = changed ] && echo ' ... ON CONFLICT DO UPDATE') of the checked, typed rows, $k | $(m typed_$k) | $(r copy typed_$k) |"
    echo "| the same on a store with only its unique keys, $k | $(m tbare_$k) | $(r copy tbare_$k) |"
    echo "| bound, $k: floor / (check + typed write): as shipped; only the unique keys | | $(b typed_$k); $(b tbare_$k) |"
done
echo "| OCPI, $NOCPI sessions: plain INSERT ... ON CONFLICT, new | $(m plain_new) | |"
echo "| ocpi_put_many, new | $(m many_new) | $(r plain_new many_new) |"
echo "| plain, update | $(m plain_upd) | |"
echo "| ocpi_put_many, update | $(m many_upd) | $(r plain_upd many_upd) |"
echo "| plain upsert per statement, $NEACH new sessions | $(m plain_each) | |"
echo "| ocpi_put per statement | $(m put_each) | $(r plain_each put_each) |"
echo "| store write (hand-written INSERT of $NPF PowerFlex rows), everything on | $(m ins_all) | 1.00 |"
echo "| the same without the store_events trigger | $(m ins_noev) | $(r ins_noev ins_all) |"
echo "| without the summary triggers | $(m ins_nosum) | $(r ins_nosum ins_all) |"
echo "| without store_ocpi_last_updated_idx and store_started_at_idx | $(m ins_noidx) | $(r ins_noidx ins_all) |"
