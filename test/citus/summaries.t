#!/usr/bin/env bash
# Live summaries on the cluster: distribute() of an install with summaries
# on and rows keeps them on and exact; writes through the coordinator (OCPI
# PUT/PATCH, the PowerFlex import, telemetry, updates across days, deletes)
# append to the co-located summary_delta shards on the workers; the reports
# read the summaries (report_path 'summaries') and answer what the scan and
# one node given the same calls answer; compaction per shard; a zone change
# and new parameters rebuild on every node; a rebuild through the
# coordinator excludes the shards' writers on the workers.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 37
DATA=$SA_SRC/test/cli/data
one=c_sum_one cl=c_sum
single_db $one
citus_db $cl

doc() { # doc CC PID ID START KWH STATUS LAST_UPDATED [END]
    local end=""
    [ -n "${8:-}" ] && end=", \"end_date_time\": \"$8\""
    printf '{"country_code": "%s", "party_id": "%s", "id": "%s", "start_date_time": "%s"%s, "kwh": %s, "cdr_token": {"country_code": "%s", "party_id": "TST", "uid": "U-%s", "type": "RFID", "contract_id": "%s-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC-%s", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "status": "%s", "last_updated": "%s"}' \
        "$1" "$2" "$3" "$4" "$end" "$5" "$1" "$3" "$1" "$2" "$6" "$7"
}
PARTIES="NL:TNM NL:ABC DE:XYZ BE:BEC FR:FRA IT:ITA"
puts() { # puts ROUND: completed sessions of every party over three days
    local sql="" cc pid i r=$1
    for p in $PARTIES; do
        cc=${p%%:*} pid=${p##*:}
        for i in 1 2 3 4 5; do
            sql+="SELECT sessions.ocpi_put('$cc', '$pid', 's$r-$i', '$(doc "$cc" "$pid" "s$r-$i" "2024-03-0${i}T2${r}:00:00Z" "$i.$r$i" COMPLETED "2024-03-0${i}T23:05:00Z" "2024-03-0${i}T23:00:00Z")'::jsonb);"
        done
        sql+="SELECT sessions.ocpi_put('$cc', '$pid', 'a$r', '$(doc "$cc" "$pid" "a$r" "2024-03-03T1${r}:00:00Z" "0.2" ACTIVE "2024-03-03T1${r}:05:00Z")'::jsonb);"
    done
    echo "$sql"
}
# Before distribute(): rows, zones, summaries on (the default), on both.
both $one $cl "$(puts 1)
SELECT sessions.set_site('NL-TNM', 'Europe/Amsterdam'); SELECT sessions.set_site('DE-XYZ', 'Europe/Amsterdam');
SELECT sessions.set_site('FR-FRA', 'America/New_York')"
PGDATABASE=$one session-report import powerflex "$DATA/powerflex_small.json" >/dev/null 2>&1
PGDATABASE=$cl session-report import powerflex "$DATA/powerflex_small.json" >/dev/null 2>&1
rows=$(cq $cl -c "SELECT count(*), sum(completed), sum(kwh) FROM sessions.summary_delta")
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distribute() with summaries on and rows"
is "$(cq $cl -c "SELECT enabled FROM sessions.summary_settings()")" t "the summaries stay on"
is "$(cq $cl -c "SELECT distribution FROM sessions.distribute() WHERE relation = 'sessions.summary_config'::regclass")" reference \
   "summary_config is a reference table"
is "$(cq $cl -c "SELECT count(*), sum(completed), sum(kwh) FROM sessions.summary_delta")" "$rows" "the summary rows moved once"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "check_summaries() is empty right after distribute()"

# Writes through the coordinator, the same calls on one node.
writes=$(cat <<SQL
$(puts 2)
SELECT sessions.ocpi_patch('DE', 'XYZ', 'a1', '{"kwh": 9.25, "status": "COMPLETED", "end_date_time": "2024-03-03T22:00:00Z", "last_updated": "2024-03-05T10:00:00Z"}');
SELECT sessions.ocpi_patch('NL', 'TNM', 'a2', '{"kwh": 0.7, "last_updated": "2024-03-05T10:00:00Z"}');
UPDATE sessions.store SET started_at = '2024-03-03 21:00+00', ended_at = '2024-03-03 23:00+00'
 WHERE namespace = 'BE-BEC' AND external_id = 'S1-2';
UPDATE sessions.store SET started_at = '2024-03-01 09:00+00' WHERE namespace = 'FR-FRA' AND external_id = 'S1-3';
DELETE FROM sessions.store WHERE namespace = 'IT-ITA' AND external_id IN ('S1-4', 'S2-5');
SELECT sessions.create_session('meter-a', 'Session', 1, '1 hour', 'm1', '{}', '{}', '2024-03-02 10:00+00');
SELECT sessions.create_session('meter-b', 'Session', 2, '-2 hours', 'm2', '{}', '{}', '2024-03-02 11:00+00');
SQL
)
both $one $cl "$writes"; ok $? "OCPI PUT/PATCH, updates across days, deletes and telemetry through the coordinator"
PGDATABASE=$one session-report import powerflex "$DATA/powerflex_small.json" >/dev/null 2>&1
PGDATABASE=$cl session-report import powerflex "$DATA/powerflex_small.json" >/dev/null 2>&1
ok $? "the PowerFlex import again (its upsert updates every row)"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "check_summaries() is empty after the writes"
set -- $SA_CITUS_PORTS
shard_rows() { # shard_rows WORKER: summary rows in the summary_delta shards of that worker
    wq "$1" $cl -c "SET citus.override_table_visibility = off" \
        -c "SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM sessions.%I', c.relname), false, true, '')))[1]::text::int), 0)
              FROM pg_class c WHERE c.relnamespace = 'sessions'::regnamespace AND c.relname ~ '^summary_delta_[0-9]+\$'"
}
w1=$(shard_rows 1); w2=$(shard_rows 2)
ok $([ "$w1" -gt 0 ] && [ "$w2" -gt 0 ]; echo $?) "both workers' summary_delta shards hold summary rows ($w1, $w2)"
is "$(cq $cl -c "SELECT string_agg(DISTINCT n.nodeport::text, ' ') FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                  WHERE s.logicalrelid = 'sessions.store'::regclass
                    AND s.shardid IN (SELECT get_shard_id_for_distribution_column('sessions.store', ns)
                                        FROM unnest(ARRAY['NL-TNM', 'NL-ABC', 'DE-XYZ', 'BE-BEC', 'FR-FRA', 'IT-ITA']) ns)")" "$2 $3" \
   "the namespaces written are on both workers"

R="tstzrange('2024-03-01', '2024-03-08')"
RP="tstzrange('2025-09-07', '2025-09-11')"
U="sites => ARRAY['LOC-ABC', 'LOC-BEC', 'LOC-ITA']"   # namespaces without a zone: UTC days
is "$(cq $cl -c "SELECT path FROM sessions.report_path($R, 'UTC', $U)")" summaries "report_path says 'summaries' through the coordinator"
is "$(cq $cl -c "SELECT path FROM sessions.report_path(tstzrange('2024-03-01 00:00+01', '2024-03-08 00:00+01'), site => 'LOC-TNM')")" summaries \
   "and for a site in its own zone"
off="SET session_analytics.report_summaries = off;"
for q in "SELECT * FROM sessions.daily_report($R, 'UTC', include_active => true, $U)" \
         "SELECT * FROM sessions.summary_report($R, 'UTC', $U)" \
         "SELECT * FROM sessions.daily_report(tstzrange('2024-03-01 00:00+01', '2024-03-08 00:00+01'), site => 'LOC-TNM')" \
         "SELECT * FROM sessions.daily_report($RP, 'UTC')"; do
    same $one $cl "$q" "summaries: one node's answer: ${q:0:60}"
done
# The scan path in kWh within summation-order noise (docs/summaries.md).
cmp="SELECT day, sessions, completed, empty, micro, normal, round(kwh::numeric, 6), avg_duration, green, orange, red FROM sessions.daily_report($R, 'UTC', include_active => true, $U)"
is "$(cq $cl -c "$off $cmp")" "$(cq $cl -c "$cmp")" "the scan through the coordinator gives the same days"
SR=(--from 2025-09-07 --to 2025-09-11 --empty --micro)
is "$(PGDATABASE=$cl session-report --format json "${SR[@]}" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["figures"]["path"])')" \
   summaries "session-report's figures come from the summaries through the coordinator"
is "$(PGDATABASE=$cl session-report "${SR[@]}" 2>&1)" "$(PGDATABASE=$one session-report "${SR[@]}" 2>&1)" "session-report: one node's report"

# Compaction on each shard: fewer rows, the same answers.
before=$(cq $cl -c "SELECT count(*) FROM sessions.summary_delta")
merged=$(cq $cl -c "SELECT sessions.compact_summaries()")
ok $([ "$merged" -gt 0 ]; echo $?) "compact_summaries() merges keys on the shards ($merged)"
after=$(cq $cl -c "SELECT count(*) FROM sessions.summary_delta")
ok $([ "$after" -lt "$before" ]; echo $?) "and leaves fewer rows ($before -> $after)"
is "$(cq $cl -c "SELECT count(*) FROM (SELECT 1 FROM sessions.summary_delta GROUP BY namespace, kind, site, day, time_zone HAVING count(*) > 1) k")" 0 \
   "one row per key"
same $one $cl "SELECT * FROM sessions.daily_report($R, 'UTC', include_active => true, $U)" "the report after compaction: one node's"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "check_summaries() is empty after compaction"

# A zone change through the coordinator rebuilds the namespace, in the new
# zone, on its worker, once: site's trigger fires on every node's placement,
# only the coordinator's rebuilds (function statistics of the transaction
# there; on the workers, their placements' trigger ran and no rebuild).
cq $cl -c "ALTER DATABASE $cl SET track_functions = 'pl'" >/dev/null   # Citus sets it on every node
cq $one -c "SELECT sessions.set_site('NL-ABC', 'Asia/Tokyo')" >/dev/null
is "$(cq $cl -c "BEGIN" -c "SET LOCAL track_functions = 'pl'" -c "SELECT count(*) FROM sessions.set_site('NL-ABC', 'Asia/Tokyo')" \
         -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE schemaname = 'sessions' AND funcname = 'rebuild_summaries'" -c "COMMIT" | tail -1)" 1 \
   "a zone change through the coordinator: rebuild_summaries runs once there"
stats() { # stats WORKER: calls of the zone trigger and of rebuild_summaries on that worker
    wq "$1" $cl -c "SELECT coalesce(sum(calls) FILTER (WHERE funcname = 'summary_site_changed'), 0) || ':' ||
                           coalesce(sum(calls) FILTER (WHERE funcname = 'rebuild_summaries'), 0)
                      FROM pg_stat_user_functions WHERE schemaname = 'sessions'"
}
for i in $(seq 1 30); do
    s1=$(stats 1); s2=$(stats 2)
    [ "${s1%%:*}" -gt 0 ] && [ "${s2%%:*}" -gt 0 ] && break
    sleep 0.5
done
is "$(sed 's/^[1-9][0-9]*:/N:/' <<<"$s1") $(sed 's/^[1-9][0-9]*:/N:/' <<<"$s2")" "N:0 N:0" \
   "on each worker the placement's trigger fired and rebuilt nothing ($s1, $s2)"
is "$(cq $cl -c "SELECT string_agg(DISTINCT time_zone, ' ') FROM sessions.summary_delta WHERE namespace = 'NL-ABC'")" Asia/Tokyo \
   "a zone change rebuilds the namespace's summaries in the new zone"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "check_summaries() is empty after it"
same $one $cl "SELECT * FROM sessions.daily_report(tstzrange('2024-03-01 00:00+09', '2024-03-08 00:00+09'), site => 'LOC-ABC')" \
     "and the report in the new zone is one node's"

# New parameters: rebuilt on every node, and the shards' triggers use them.
both $one $cl "SELECT sessions.configure_summaries(micro_threshold => 5)"
is "$(cq $cl -c "SELECT path FROM sessions.report_path($R, 'UTC', 5, sites => ARRAY['LOC-ITA'])")" summaries "configure_summaries(micro_threshold => 5): the summaries answer micro 5"
both $one $cl "$(puts 3)"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "every node rebuilt and writes after it use micro 5 (check_summaries() empty)"
same $one $cl "SELECT * FROM sessions.daily_report($R, 'UTC', 5, sites => ARRAY['LOC-ITA'])" "the report with micro 5: one node's"

# A rebuild through the coordinator against a writer on a worker's shard:
# the writer waits for the zone change's rebuild and writes its delta in the
# new zone (without the lock it would use the old one).
( cq $cl -c "BEGIN" -c "SELECT sessions.set_site('BE-BEC', 'Asia/Tokyo')" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 ) &
bg=$!
sleep 1
t0=$(date +%s%N)
cq $cl -c "SELECT sessions.ocpi_put('BE', 'BEC', 'late', '$(doc BE BEC late 2024-03-04T23:30:00Z 3.5 COMPLETED 2024-03-05T01:00:00Z 2024-03-05T00:30:00Z)'::jsonb)" >/dev/null
t1=$(date +%s%N)
wait $bg
waited=$(( (t1 - t0) / 1000000 ))
ok $([ "$waited" -ge 1000 ]; echo $?) "a writer on the namespace's worker waits for the rebuild through the coordinator (${waited} ms)"
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 "and its delta is in the new zone: check_summaries() is empty"
# The other order: a rebuild waits for a writer still open on a worker.
( cq $cl -c "BEGIN" -c "SELECT sessions.ocpi_put('BE', 'BEC', 'late2', '$(doc BE BEC late2 2024-03-04T10:30:00Z 1.5 COMPLETED 2024-03-05T01:00:00Z 2024-03-04T12:30:00Z)'::jsonb)" \
        -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 ) &
bg=$!
sleep 1
t0=$(date +%s%N)
cq $cl -c "SELECT sessions.rebuild_summaries()" >/dev/null
t1=$(date +%s%N)
wait $bg
waited=$(( (t1 - t0) / 1000000 ))
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()")" 0 \
   "a rebuild waits for an open writer on a worker (${waited} ms) and check_summaries() stays empty"

# TRUNCATE of the store through the coordinator empties the summaries on
# every node (Citus keeps no shard TRUNCATE trigger in step: the shell's
# trigger truncates summary_delta), and writes after it are summarized.
cq $cl -c "TRUNCATE sessions.store CASCADE" >/dev/null 2>&1
is "$(cq $cl -c "SELECT count(*) FROM sessions.store"):$(cq $cl -c "SELECT count(*) FROM sessions.summary_delta")" "0:0" \
   "TRUNCATE of the store through the coordinator empties the summaries"
cq $cl -c "$(puts 0)" >/dev/null
is "$(cq $cl -c "SELECT count(*) FROM sessions.check_summaries()"):$(cq $cl -c "SELECT count(*) > 0 FROM sessions.summary_delta")" "0:t" \
   "and writes after it are summarized exactly"
