#!/usr/bin/env bash
# Row-level security on the cluster: the cluster-relevant part of
# test/pgtap/attack_tenants.sql against the coordinator (and a worker) of a
# distributed store. Tenants are hostile: each sees and writes only the
# namespaces role_namespace (a reference table) maps to it.
. "$SA_SRC/test/cli/tap.sh"
. "$SA_SRC/test/citus/lib/citus.sh"
plan 21
cl=c_rls
citus_db $cl
for r in c_atk_nl c_atk_de c_atk_read; do cq $cl -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done
cq $cl -c "CREATE ROLE c_atk_nl LOGIN IN ROLE session_analytics_writer" \
       -c "CREATE ROLE c_atk_de LOGIN IN ROLE session_analytics_writer" \
       -c "CREATE ROLE c_atk_read LOGIN IN ROLE session_analytics_reader" >/dev/null
cq $cl -c "SELECT count(*) FROM sessions.distribute()" >/dev/null; ok $? "distributed"
cq $cl -c "INSERT INTO sessions.role_namespace VALUES ('c_atk_nl', 'NL-TNM'), ('c_atk_de', 'DE-XYZ'), ('c_atk_read', 'NL-TNM')" >/dev/null
is "$(wq 2 $cl -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'c_atk_%'")" 3 "the tenants' roles exist on the workers too"

doc() {
    printf '{"country_code": "%s", "party_id": "%s", "id": "%s", "start_date_time": "2024-03-01T10:00:00Z", "end_date_time": "2024-03-01T11:00:00Z", "kwh": 4, "cdr_token": {"country_code": "%s", "party_id": "TST", "uid": "U1", "type": "RFID", "contract_id": "C1"}, "auth_method": "WHITELIST", "location_id": "L", "evse_uid": "E1", "connector_id": "1", "currency": "EUR", "status": "COMPLETED", "last_updated": "2024-03-01T11:00:00Z"}' "$1" "$2" "$3" "$1"
}
as() { local r=$1; shift; psql -X -q -At -U "$r" -d $cl -c "$@" 2>&1; }
for i in 1 2 3; do as c_atk_nl "SELECT sessions.ocpi_put('NL', 'TNM', 'n$i', '$(doc NL TNM n$i)')" >/dev/null; done
for i in 1 2; do as c_atk_de "SELECT sessions.ocpi_put('DE', 'XYZ', 'd$i', '$(doc DE XYZ d$i)')" >/dev/null; done
is "$(cq $cl -c "SELECT namespace, count(*) FROM sessions.store GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" "DE-XYZ|2 NL-TNM|3 " \
   "each writer stored its own sessions through the coordinator"

is "$(as c_atk_nl "SELECT count(*), min(namespace), max(namespace) FROM sessions.store")" "3|NL-TNM|NL-TNM" "a writer sees only its namespace's sessions"
is "$(as c_atk_read "SELECT count(*) FROM sessions.store")" 3 "a reader sees only its namespace's sessions"
is "$(as c_atk_nl "SELECT sessions.ocpi_get('DE', 'XYZ', 'd1') IS NULL")" t "GET of another party's session: nothing"
is "$(as c_atk_nl "SELECT data::text || '|' || total_count FROM sessions.ocpi_list('2000-01-01', NULL, 0, 50, 'DE', 'XYZ')")" '[]|0' "list of another party: nothing"
is "$(as c_atk_nl "SELECT sessions FROM sessions.summary_report(NULL)")" 3 "summary_report covers only its own sessions"
is "$(as c_atk_read "SELECT count(*) FROM sessions.daily_report(NULL)")" 1 "daily_report of a reader: its own day"
like "$(as c_atk_nl "SELECT sessions.ocpi_put('DE', 'XYZ', 'forged', '$(doc DE XYZ forged)')")" "42501|not mapped|permission|policy" \
     "PUT into another party's namespace refused"
like "$(as c_atk_nl "INSERT INTO sessions.store (kind, namespace, external_id, status) VALUES ('ocpi', 'DE-XYZ', 'FORGED', 'ACTIVE')")" \
     "row-level security|policy" "a plain INSERT into another namespace refused by the policy"
is "$(as c_atk_nl "WITH u AS (UPDATE sessions.store SET kwh = 99 WHERE namespace = 'DE-XYZ' RETURNING 1) SELECT count(*) FROM u")" 0 \
   "UPDATE of another namespace's sessions touches nothing"
is "$(as c_atk_nl "WITH d AS (DELETE FROM sessions.store WHERE true RETURNING namespace) SELECT count(*) FROM d WHERE namespace <> 'NL-TNM'")" 0 \
   "a DELETE of everything deletes none of the others' sessions"
is "$(cq $cl -c "SELECT count(*) FROM sessions.store WHERE namespace = 'DE-XYZ' AND kwh = 4")" 2 "the other party's sessions are intact"
is "$(as c_atk_nl "SELECT string_agg(role_name || ':' || namespace, ',') FROM sessions.role_namespace")" "c_atk_nl:NL-TNM" \
   "the role map (a reference table) shows a tenant only its own mapping"
like "$(as c_atk_nl "INSERT INTO sessions.role_namespace VALUES ('c_atk_nl', '*')")" "permission denied" "a tenant cannot write the role map"
is "$(as c_atk_nl "SELECT sessions.visible_namespaces()")" "{NL-TNM}" "visible_namespaces() through the coordinator"
like "$(as c_atk_nl "SELECT * FROM sessions.distribute()")" "permission denied" "a tenant cannot call distribute()"
# On a worker (Citus syncs the metadata, so a tenant may connect there).
set -- $SA_CITUS_PORTS
is "$(psql -X -q -At -p "$2" -U c_atk_de -d $cl -c "SELECT count(*), min(namespace) FROM sessions.store" 2>&1)" "2|DE-XYZ" \
   "on a worker a tenant still sees only its own sessions"
is "$(psql -X -q -At -p "$3" -U c_atk_de -d $cl -c "SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM'" 2>&1)" 0 \
   "nor the other namespace's, asked by name"
shard=$(cq $cl -c "SELECT shard_name('sessions.store'::regclass, get_shard_id_for_distribution_column('sessions.store', 'NL-TNM'))")
port=$(cq $cl -c "SELECT nodeport FROM citus_shards WHERE shard_name = '$shard'")
like "$(psql -X -q -At -p "$port" -U c_atk_de -d $cl -c "SELECT count(*) FROM $shard WHERE namespace = 'NL-TNM'" 2>&1)" "^0$|permission denied|does not exist" \
     "the shard itself, on its worker, shows the other tenant nothing"
for r in c_atk_nl c_atk_de c_atk_read; do cq $cl -c "DROP OWNED BY $r" -c "DROP ROLE $r" >/dev/null 2>&1; done
