#!/usr/bin/env bash
# OCPI Sessions through the coordinator of a distributed store: PUT, PATCH,
# GET, list and charging preferences give the answers of one node; a GET
# is routed to the shard of its party's namespace.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 15
one=c_ocpi_one cl=c_ocpi
single_db $one
citus_db $cl
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"

doc() { # doc CC PID ID KWH STATUS LAST_UPDATED
    printf '{"country_code": "%s", "party_id": "%s", "id": "%s", "start_date_time": "2024-03-01T10:00:00Z", "kwh": %s, "cdr_token": {"country_code": "%s", "party_id": "TST", "uid": "U-%s", "type": "RFID", "contract_id": "%s-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC-%s", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "status": "%s", "last_updated": "%s"}' \
        "$1" "$2" "$3" "$4" "$1" "$3" "$1" "$2" "$5" "$6"
}
put_sql=""
for p in NL:TNM NL:ABC DE:XYZ BE:BEC FR:FRA; do
    cc=${p%%:*} pid=${p##*:}
    for i in 1 2 3 4; do
        put_sql+="SELECT sessions.ocpi_put('$cc', '$pid', 's-$i', '$(doc "$cc" "$pid" "s-$i" "$i.5" ACTIVE "2024-03-0${i}T10:05:00Z")'::jsonb);"
    done
done
both $one $cl "$put_sql"; ok $? "20 PUTs of 5 parties on both"
same $one $cl "SELECT namespace, kind, external_id, status, kwh, started_at FROM sessions.store ORDER BY 1, 3" "the stored rows are the same"
same $one $cl "SELECT sessions.ocpi_get('nl', 'tnm', 'S-2')" "GET (keys in lower case) answers the same document"
same $one $cl "SELECT sessions.ocpi_get('NL', 'TNM', 'nope') IS NULL" "GET of an unknown session: NULL"
patch="SELECT sessions.ocpi_patch('DE', 'XYZ', 's-3', '{\"kwh\": 9.25, \"status\": \"COMPLETED\", \"end_date_time\": \"2024-03-03T12:00:00Z\", \"last_updated\": \"2024-03-05T10:00:00Z\"}')"
same $one $cl "$patch" "PATCH answers the same"
same $one $cl "SELECT sessions.ocpi_get('DE', 'XYZ', 's-3')" "and the patched document is the same"
prefs="SELECT sessions.ocpi_put_charging_preferences('BE', 'BEC', 's-1', '{\"profile_type\": \"FAST\", \"departure_time\": \"2024-03-01T18:00:00Z\", \"energy_need\": 12.5}')"
same $one $cl "$prefs" "PUT charging preferences: the same answer"
same $one $cl "$prefs" "PUT them again (the upsert's DO UPDATE): the same answer"
same $one $cl "SELECT sessions.ocpi_get('BE', 'BEC', 's-1', true) - 'last_updated'" "GET with preferences: the same document"
same $one $cl "SELECT l.data ->> 'id', l.total_count, l.is_last_page FROM sessions.ocpi_list('2024-03-01', NULL, 2, 5) l" \
     "list (date_from, offset 2, limit 5): the same page"
same $one $cl "SELECT l.data ->> 'id', l.total_count FROM sessions.ocpi_list('2024-03-02', '2024-03-04', 0, 50, 'NL', 'ABC') l" \
     "list of one party in a window: the same page"
many="SELECT * FROM sessions.ocpi_put_many('FR', 'FRA', ARRAY['$(doc FR FRA s-1 7.5 COMPLETED 2024-03-09T10:05:00Z)'::jsonb,
        '$(doc FR FRA s-9 0.5 ACTIVE 2024-03-09T10:05:00Z)'::jsonb, '$(doc FR FRA s-2 1 ACTIVE 2024-03-09T10:05:00Z)'::jsonb,
        '{\"id\": \"bad\"}'::jsonb])"
same $one $cl "$many" "bulk PUT (ocpi_put_many: an update, a new session, a refused document): the same answer"
same $one $cl "SELECT namespace, external_id, status, kwh FROM sessions.store WHERE namespace = 'FR-FRA' ORDER BY 2" "and the same stored rows"
like "$(cq $cl -c "EXPLAIN (COSTS OFF) SELECT s.doc FROM sessions.store s WHERE s.namespace = 'NL-TNM' AND s.kind = 'ocpi' AND s.external_id = 'S-2'")" \
     "Task Count: 1" "a GET's look-up (namespace, kind, id) is routed to the one shard of the namespace"
