#!/usr/bin/env bash
# The PowerFlex import and every report through the coordinator of a
# distributed store, compared with one node fed the same export: the
# reports' SQL functions, session-report (the golden files of
# test/cli/report_output.t), partial aggregation on the workers in EXPLAIN,
# and settings that change a result (micro_threshold) travelling with the
# query as values.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 25
DATA=$SA_SRC/test/cli/data
EXP=$SA_SRC/test/cli/expected
T=$SA_TEST_DIR/reports; mkdir -p "$T"
one=c_reports_one cl=c_reports
single_db $one
citus_db $cl
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"

# The import: session-report import (sessions.import_powerflex) on both.
a=$(PGDATABASE=$one session-report import powerflex "$DATA/powerflex_small.json" 2>&1)
b=$(PGDATABASE=$cl session-report import powerflex "$DATA/powerflex_small.json" 2>&1)
is "$b" "$a" "PowerFlex import: the same summary line"
b=$(PGDATABASE=$cl session-report import powerflex "$DATA/powerflex_small.json" 2>&1)
like "$b" "0 new, 41 updated" "importing again updates every row (the upsert on the shards)"
PGDATABASE=$one session-report import powerflex "$DATA/powerflex_small.json" >/dev/null 2>&1
same $one $cl "SELECT namespace, external_id, status, started_at, ended_at, kwh, user_ref, site FROM sessions.store ORDER BY 1, 2" \
     "the stored sessions are the same"
same $one $cl "SELECT namespace, time_zone, display_name FROM sessions.site ORDER BY 1" "and the sites"

R="tstzrange('2025-09-07', '2025-09-11')"
same $one $cl "SELECT * FROM sessions.daily_report($R)" "daily_report"
same $one $cl "SELECT * FROM sessions.daily_report($R, 'America/New_York', 0.3, NULL, true)" "daily_report in a zone, micro 0.3, active included"
same $one $cl "SELECT * FROM sessions.summary_report($R)" "summary_report"
same $one $cl "SELECT * FROM sessions.summary_report(NULL, 'UTC', 2, 'Downtown Charging Hub')" "summary_report of one site, all time"
# Every column but session_key (each database allocated its own keys).
UR="user_ref, user_sessions, session_no, namespace, external_id, site, started_local, ended_local, duration, duration_interval, kwh, average_w, average_a, rating"
same $one $cl "SELECT $UR FROM sessions.user_report()" "user_report"
same $one $cl "SELECT $UR FROM sessions.user_report(NULL, $R, 'Europe/Berlin', 400)" "user_report in a zone at 400 V"

# micro_threshold set on the coordinator: the workers never read it, the
# value travels as an argument of the aggregate.
q5="SET session_analytics.micro_threshold = 5; SELECT sum(micro), sum(normal) FROM sessions.daily_report($R)"
is "$(cq $cl -c "$q5")" "$(cq $one -c "$q5")" "SET micro_threshold = 5 on the coordinator: the micro sessions of one node"
unlike "$(cq $cl -c "$q5")" "^$(cq $cl -c "SELECT sum(micro), sum(normal) FROM sessions.daily_report($R)")\$" \
       "and the setting changed the answer"
q5s="SET session_analytics.micro_threshold = 5; SELECT micro, normal, combined FROM sessions.summary_report($R)"
is "$(cq $cl -c "$q5s")" "$(cq $one -c "$q5s")" "summary_report with micro_threshold = 5: the same"

# A direct call of the setting-reading form (session_stats_agg with 3 or 4
# arguments) reads micro_threshold where its transition runs: on the
# workers. The documented ways to give it the coordinator's value
# (docs/scale-out.md): SET LOCAL propagated by Citus, or a database
# setting, which Citus sets on every node.
d3="SELECT (sessions.totals(sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh))).micro FROM sessions.store s WHERE s.kind = 'powerflex'"
want=$(cq $one -c "SET session_analytics.micro_threshold = 5" -c "$d3")
is "$(cq $cl -c "SET citus.propagate_set_commands = 'local'" -c "BEGIN" -c "SET LOCAL session_analytics.micro_threshold = 5" -c "$d3" -c "COMMIT")" "$want" \
   "direct 3-argument call: SET LOCAL with citus.propagate_set_commands = local counts the micro sessions of one node"
cq $cl -c "ALTER DATABASE $cl SET session_analytics.micro_threshold = 5" >/dev/null
is "$(cq $cl -c "$d3")" "$want" "direct 3-argument call: ALTER DATABASE ... SET (on every node) counts the same"
cq $cl -c "ALTER DATABASE $cl RESET session_analytics.micro_threshold" >/dev/null

plan_txt=$(cq $cl -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'UTC', 0.5)
                      FROM sessions.store s WHERE s.kind = ANY (ARRAY['ocpi', 'powerflex'])")
like "$plan_txt" "worker_partial_agg\('sessions.session_stats_agg" "EXPLAIN: the reports' aggregate runs as partial aggregates on the workers"
like "$plan_txt" "coord_combine_agg" "and is combined on the coordinator"
# A parameter of a PL/pgSQL statement (report_stats' micro_threshold and
# zone) reaches the workers as a value in their query text.
prep=$(cq $cl -c "PREPARE q(float8, text) AS SELECT sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, \$2, \$1)
                  FROM sessions.store s WHERE s.kind = ANY (ARRAY['ocpi', 'powerflex'])" \
              -c "EXPLAIN (VERBOSE, COSTS OFF) EXECUTE q(5, 'Asia/Tokyo')")
like "$prep" "worker_partial_agg\('sessions.session_stats_agg.*'Asia/Tokyo'::text, '5'::double precision" \
     "a parameter's value is in the workers' partial aggregate (zone and micro_threshold as constants)"

# session-report against the coordinator: the golden outputs of one node.
export PGDATABASE=$cl
RANGE=(--from 2025-09-07 --to 2025-09-11)
bad=
for g in "report_empty_micro.txt --empty --micro" "report_full.json --empty --micro --user --format json" \
         "report_full.csv --empty --micro --user --format csv" "report_raw.json --sort session_kwh --order asc --limit 5"; do
    set -- $g; name=$1; shift
    # The JSON's figures line (the path) is checked below; everything else
    # is the golden's, byte for byte.
    session-report "$@" "${RANGE[@]}" >"$T/$name" 2>"$T/$name.err" &&
        diff -q <(grep -v '^  "figures": ' "$EXP/$name") <(grep -v '^  "figures": ' "$T/$name") >/dev/null || bad+=" $name"
done
is "$bad" "" "session-report against the coordinator: the golden text, JSON and CSV reports"
is "$(grep '^  "figures": ' "$T/report_full.json")" "$(grep '^  "figures": ' "$EXP/report_full.json")" \
     "session-report against the coordinator: the figures come from the live summaries, as on one node (the JSON's figures line)"
session-report --user "${RANGE[@]}" --site "Downtown Charging Hub" >"$T/u.txt" 2>&1
diff -u "$EXP/report_user.txt" "$T/u.txt" >/dev/null; ok $? "session-report --user --site: the golden per-user report"
session-report "${RANGE[@]}" --format csv --sort session_id --order asc --limit 4 --page 2 >"$T/raw.csv" 2>&1
diff -u "$EXP/report_raw.csv" "$T/raw.csv" >/dev/null; ok $? "session-report raw rows, page 2: the golden CSV"

# Rows an import cannot store: the same answer and the same rejects (last:
# the goldens above are of the clean export).
rej_sql="SELECT sessions.import_powerflex(pg_read_file('$DATA/powerflex_bad.json')::jsonb)"
same $one $cl "$rej_sql" "an export with bad rows: the same answer"
same $one $cl "SELECT position, namespace, session_id, reason FROM sessions.import_rejects ORDER BY 1" "and the same rejects"
