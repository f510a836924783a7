#!/usr/bin/env bash
# PowerFlex import: `session-report import powerflex` (streamed, checked,
# upserted, one transaction) against, in the same run, (a) COPY of the same
# rows as bare jsonb documents (the ingest floor) and (b) the INSERT ...
# SELECT an analyst would write from those documents (no checks, no upsert).
# The import and the re-import also run with
# session_analytics.import_memory_retain = 0 (glibc's own memory policy).
# 200k rows x BENCH_SCALE; prints rows/s, ratios and the client's peak memory.
set -euo pipefail
SCALE=${BENCH_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { n = 200000 * s; if (n < 2000) n = 2000; printf "%d", n }')
DIR=${SA_BENCH_DIR:-/tmp}/import
mkdir -p "$DIR"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

echo "## PowerFlex import ($N rows)"
python3 - "$N" "$DIR/export.json" "$DIR/rows.ndjson" <<'PY'
import json, random, sys
random.seed(1)
n = int(sys.argv[1])
with open(sys.argv[2], "w") as f, open(sys.argv[3], "w") as g:
    f.write('{"rows": [\n')
    for i in range(n):
        start = 1735689600000 + random.randrange(365 * 86400) * 1000
        r = random.random()
        kwh = 0.0 if r < 0.6 else round(random.uniform(0.01, 0.99), 4) if r < 0.65 else round(random.uniform(1, 40), 5)
        row = {"session_id": "%07d_%08d" % (random.randrange(10**7), i), "reporting_id": 477000000 + i,
               "session_kwh": kwh, "session_start_time": start, "session_end_time": start + random.randrange(60, 36000) * 1000,
               "created_at": "2025-09-15T07:12:27.381Z", "updated_at": "2025-09-15T07:13:13.838Z", "status": "FINISHED",
               "user": "user%d@example.com" % random.randrange(5000), "vehicle": "2020 Tesla Model Y Performance AWD",
               "site": ["Downtown", "Airport", "Harbor"][i % 3], "cost_actual": round(kwh * 0.15, 2)}
        line = json.dumps(row)
        f.write(("," if i else "") + line + "\n")
        g.write(line.replace("\\", "\\\\") + "\n")
    f.write('], "total_count": %d, "page": 1, "limit": %d}\n' % (n, n))
PY
MB=$(du -m "$DIR/export.json" | cut -f1)

ms() { local s=$1; echo $(( ($(date +%s%N) - s) / 1000000 )); }
reset_store() {
    "${PSQL[@]}" -c "DELETE FROM sessions.store WHERE kind = 'powerflex' AND namespace IN ('Downtown', 'Airport', 'Harbor')" \
                 -c "DROP TABLE IF EXISTS bench_pf_docs" -c "VACUUM sessions.store" >/dev/null
}

# The machine may be shared: ROUNDS interleaved rounds of every step, each
# figure the median of its rounds (ratios from the medians).
ROUNDS=${BENCH_ROUNDS:-3}
median() { tr ' ' '\n' | awk NF | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Autovacuum of the store and the event log would ANALYZE in the middle of a step (and, until
# the event trigger stops re-reading its cached OIDs after an invalidation,
# can fail a write with "could not open relation with OID 0"): off while timing.
"${PSQL[@]}" -c "ALTER TABLE sessions.store SET (autovacuum_enabled = off)" -c "ALTER TABLE sessions.event_log SET (autovacuum_enabled = off)"
A= B= C= D= C0= D0= RSS=
for round in $(seq "$ROUNDS"); do
    reset_store
    s=$(date +%s%N)
    "${PSQL[@]}" -c "CREATE TABLE bench_pf_docs (doc jsonb)" -c "\\copy bench_pf_docs FROM '$DIR/rows.ndjson'"
    A="$A $(ms "$s")"

    s=$(date +%s%N)
    "${PSQL[@]}" <<'SQL'
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, last_updated, doc)
SELECT 'powerflex', doc ->> 'site', doc ->> 'session_id', doc ->> 'status',
       to_timestamp((doc ->> 'session_start_time')::float8 / 1000), to_timestamp((doc ->> 'session_end_time')::float8 / 1000),
       (doc ->> 'session_kwh')::float8, doc ->> 'user', doc ->> 'site', (doc ->> 'updated_at')::timestamptz, doc
  FROM bench_pf_docs;
SQL
    B="$B $(ms "$s")"

    reset_store
    s=$(date +%s%N)
    /usr/bin/time -f %M -o "$DIR/rss" session-report import powerflex "$DIR/export.json" >/dev/null
    C="$C $(ms "$s")"
    RSS="$RSS $(( $(cat "$DIR/rss") / 1024 ))"
    s=$(date +%s%N)
    session-report import powerflex "$DIR/export.json" >/dev/null
    D="$D $(ms "$s")"

    reset_store
    s=$(date +%s%N)
    PGOPTIONS="$PGOPTIONS -c session_analytics.import_memory_retain=0" session-report import powerflex "$DIR/export.json" >/dev/null
    C0="$C0 $(ms "$s")"
    s=$(date +%s%N)
    PGOPTIONS="$PGOPTIONS -c session_analytics.import_memory_retain=0" session-report import powerflex "$DIR/export.json" >/dev/null
    D0="$D0 $(ms "$s")"
done
reset_store
"${PSQL[@]}" -c "ALTER TABLE sessions.store RESET (autovacuum_enabled)" -c "ALTER TABLE sessions.event_log RESET (autovacuum_enabled)"
t_copy=$(median <<<"$A") t_sql=$(median <<<"$B") t_imp=$(median <<<"$C") t_re=$(median <<<"$D") t_imp0=$(median <<<"$C0") t_re0=$(median <<<"$D0")
rss=$(tr ' ' '\n' <<<"$RSS" | awk NF | sort -n | tail -1)
echo "rounds (ms): copy$A; insert$B; import$C; re-import$D; import, retain 0$C0; re-import, retain 0$D0; load $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v n="$N" -v mb="$MB" -v a="$t_copy" -v b="$t_sql" -v c="$t_imp" -v r="$t_re" -v rss="$rss" -v c0="$t_imp0" -v r0="$t_re0" 'BEGIN {
    printf "| step | ms | rows/s |\n|---|---:|---:|\n"
    printf "| (a) COPY rows as jsonb (floor) | %d | %d |\n", a, n / (a / 1000)
    printf "| (b) a + hand-written INSERT ... SELECT into the store | %d | %d |\n", a + b, n / ((a + b) / 1000)
    printf "| (c) session-report import powerflex (%d MB file) | %d | %d |\n", mb, c, n / (c / 1000)
    printf "| (d) the same file again (all updates) | %d | %d |\n", r, n / (r / 1000)
    printf "| (c0) c with session_analytics.import_memory_retain = 0 | %d | %d |\n", c0, n / (c0 / 1000)
    printf "| (d0) d with session_analytics.import_memory_retain = 0 | %d | %d |\n", r0, n / (r0 / 1000)
    printf "\nmedians of the rounds; a / c = %.2f (new rows), a / d = %.2f (re-import), c / (a + b) = %.1f; client peak RSS %d MB for a %d MB file; retain 0: a / c0 = %.2f, a / d0 = %.2f\n", a / c, a / r, c / (a + b), rss, mb, a / c0, a / r0
}'
