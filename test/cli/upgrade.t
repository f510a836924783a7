#!/usr/bin/env bash
# The upgrade path (docs/upgrading.md): a database installed as 0.1.0 and
# filled through every 0.1.0 entry point is moved by ALTER EXTENSION UPDATE
# to the current version, and then
#   - its catalog equals a fresh install's, object by object
#     (tools/catalog_dump.sql, diffed; the difference is printed);
#   - every row it held reads back unchanged, the stored session_stats
#     values of a user table included (text and binary forms, and what
#     days()/totals() compute from them);
#   - a dump taken on 0.1.0 restores into the current release just as well;
#   - the current API works on the migrated rows (0.1.0's tokens and state
#     documents are refused: the signing key changes);
#   - the update refuses a schema a non-superuser controls;
#   - every pgTAP suite passes against an updated (empty) database too:
#     one TAP line per file of test/pgtap/.
# Before the update the 0.1.0 SQL runs on the current library (the data
# load is that test: every 0.1.0 C function is called with it), and the
# frozen 0.1.0 script is checked against the release's checksum.
. "$SA_SRC/test/cli/tap.sh"
pgtap=("$SA_SRC"/test/pgtap/*.sql)
plan $((28 + ${#pgtap[@]}))
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SA_SRC/session_analytics.control")
old=upgrade_from_010 new=upgrade_fresh tpl=upgrade_tap_template
for db in $old $new $tpl; do
    q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null
done

# --- 0.1.0's install script is frozen ------------------------------------------
# Exactly as commit a688718 built it (its src/sql parts joined in name order);
# a released script is never edited (docs/upgrading.md).
is "$(md5sum <"$SA_SRC/src/session_analytics--0.1.0.sql" | cut -d' ' -f1)" "0705b595636c253405401c97bf34f46c" \
   "src/session_analytics--0.1.0.sql is the 0.1.0 release's script, unchanged"

# --- and so is 0.2.0's ------------------------------------------------------
# Exactly as commit 8abc7bf built it, the 0.2.0 release.
is "$(md5sum <"$SA_SRC/src/session_analytics--0.2.0.sql" | cut -d' ' -f1)" "8df0a4e5c776048ef64f4b3c2e348dbb" \
   "src/session_analytics--0.2.0.sql is the 0.2.0 release's script, unchanged"

# --- the library serves 0.1.0's SQL --------------------------------------------
# Every C function 0.1.0's script names is exported by the library (with its
# pg_finfo_ record), so a database still on 0.1.0 keeps working with it.
lib=$(pg_config --pkglibdir)/session_analytics.so
syms=$(grep -o "MODULE_PATHNAME', '[a-z_0-9]*'" "$SA_SRC/src/session_analytics--0.1.0.sql" | cut -d"'" -f3 | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
missing=$(for f in $syms; do grep -qx "$f" <<<"$exported" && grep -qx "pg_finfo_$f" <<<"$exported" || echo "$f"; done)
is "$(wc -w <<<"$syms"):$(echo $missing)" "25:" "the library exports all 25 C functions 0.1.0 names"
syms=$(grep -o "MODULE_PATHNAME', '[a-z_0-9]*'" "$SA_SRC/src/session_analytics--0.2.0.sql" | cut -d"'" -f3 | sort -u)
missing=$(for f in $syms; do grep -qx "$f" <<<"$exported" && grep -qx "pg_finfo_$f" <<<"$exported" || echo "$f"; done)
is "$(wc -w <<<"$syms"):$(echo $missing)" "31:" "the library exports all 31 C functions 0.2.0 names"

# --- 0.1.0, filled ------------------------------------------------------------
q -d $old -c "CREATE EXTENSION session_analytics VERSION '0.1.0'"
is "$(q -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "0.1.0" \
   "CREATE EXTENSION ... VERSION '0.1.0' installs the frozen 0.1.0 script"
D=$SA_SRC/test/data/ocpi
out=$(q -d $old -v d1="$(cat "$D/2.2.1-d2/session_example_1_simple_start.json")" \
        -v d2="$(cat "$D/2.2.1-d2/session_example_2_short_finished.json")" \
        -v dp_cost="$(cat "$D/2.2.1-d2/session_patch_example_total_cost.json")" \
        -v dp_period="$(cat "$D/2.2.1-d2/session_patch_example_charging_period.json")" \
        -v t1="$(cat "$D/2.3.0/session_example_1_simple_start.json")" \
        -v tp_period="$(cat "$D/2.3.0/session_patch_example_charging_period.json")" \
        -v pf="$(cat "$SA_SRC/test/cli/data/powerflex_small.json")" \
        -v pf_bad="$(cat "$SA_SRC/test/cli/data/powerflex_bad.json")" \
        -f "$SA_SRC/test/cli/data/upgrade_load_0.1.0.sql" 2>&1)
rc=$?
ok $rc "0.1.0 entry points store data with the current library (OCPI, PowerFlex, telemetry, invoice, events, session_stats)"
[ $rc -ne 0 ] && sed 's/^/# /' <<<"$out" | tail -20
is "$(q -d $old -c "SELECT string_agg(kind || '=' || n, ' ' ORDER BY kind) FROM (SELECT kind, count(*) n FROM sessions.store GROUP BY 1) x;
                    SELECT (SELECT count(*) FROM sessions.event_log) > 50, (SELECT count(*) FROM sessions.import_rejects) > 0,
                           (SELECT count(*) FROM sessions.telemetry_associate), (SELECT count(*) FROM sessions.invoice_secret),
                           (SELECT count(*) FROM sessions.session_lease), (SELECT count(*) FROM sessions.ocpi_charging_preferences),
                           (SELECT count(*) FROM public.stats_by_site)" | paste -sd' ')" \
   "invoice=3 ocpi=3 powerflex=44 telemetry=4 t|t|2|1|1|1|15" "every kind of row is there before the update"

# The read-back: every row of every 0.1.0 table (its 0.1.0 columns, so a
# column the update adds does not count as a change) and of the user tables
# (but sessions.lifecycle_key: the update replaces the signing key, checked
# below through the tokens it signs),
# and the stored session_stats values in text and binary form with what
# days() and totals() read from them. Built once from the 0.1.0 catalog.
readback_sql=$(q -d $old -c "
SELECT string_agg(pg_catalog.format(
         'SELECT %L || '': '' || x::text FROM (SELECT %s FROM %s) x ORDER BY 1;',
         c.oid::regclass::text,
         (SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
            FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
         c.oid::regclass::text), E'\n' ORDER BY c.oid::regclass::text)
  FROM pg_class c
 WHERE c.relkind = 'r' AND c.oid <> 'sessions.lifecycle_key'::regclass
   AND (c.relnamespace = 'public'::regnamespace
        OR c.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                      WHERE e.extname = 'session_analytics' AND d.deptype = 'e' AND d.classid = 'pg_class'::regclass))")
readback_sql+="
SELECT 'send ' || site || ': ' || pg_catalog.encode(sessions.session_stats_send(stats), 'hex') FROM public.stats_by_site ORDER BY 1;
SELECT 'days ' || s.site || ': ' || d::text FROM public.stats_by_site s, sessions.days(s.stats) d ORDER BY 1;
SELECT 'totals ' || s.site || ': ' || t::text FROM public.stats_by_site s, sessions.totals(s.stats) t ORDER BY 1;
SELECT 'event_seq: ' || last_value FROM sessions.event_seq;"
before=$(q -d $old <<<"$readback_sql" 2>&1)
like "$before" "^stats_by_site: \(rollup,\"v1 tz=UTC" "the read-back lists the stored session_stats values"

# A dump of it, for the restore below.
pg_dump -Fc -d $old -f "$SA_TEST_DIR/upgrade_from_010.dump"

# --- ALTER EXTENSION UPDATE -----------------------------------------------------
out=$(q -d $old -c "ALTER EXTENSION session_analytics UPDATE" 2>&1)
ok $? "ALTER EXTENSION session_analytics UPDATE from 0.1.0"
[ -n "$out" ] && sed 's/^/# /' <<<"$out" | head -20
is "$(q -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "$current" \
   "the update reaches default_version ($current)"

# --- the catalog equals a fresh install's ---------------------------------------------
q -d $new -c "CREATE EXTENSION session_analytics"
q -d $old -f "$SA_SRC/tools/catalog_dump.sql" >"$SA_TEST_DIR/catalog_upgraded.txt"
q -d $new -f "$SA_SRC/tools/catalog_dump.sql" >"$SA_TEST_DIR/catalog_fresh.txt"
is "$(grep -c '' "$SA_TEST_DIR/catalog_fresh.txt" | awk '$1 > 1000 {print "big"}')" "big" \
   "the catalog dump lists the extension's objects (over 1000 lines)"
d=$(diff -u --label "updated from 0.1.0" --label "fresh $current" \
        "$SA_TEST_DIR/catalog_upgraded.txt" "$SA_TEST_DIR/catalog_fresh.txt")
ok $? "catalog after the update equals a fresh install (functions, types, tables, columns, indexes, constraints, triggers, policies, grants, comments, membership)"
[ -n "$d" ] && sed 's/^/# /' <<<"$d" | head -150

# --- from 0.2.0: the same catalog ------------------------------------------------------
from020=upgrade_from_020
q -c "DROP DATABASE IF EXISTS $from020 WITH (FORCE)" -c "CREATE DATABASE $from020" 2>/dev/null
q -d $from020 -c "CREATE EXTENSION session_analytics VERSION '0.2.0'" >/dev/null 2>&1
# What a user stored under 0.2.0: a state document and a continuation token.
q -d $from020 -c "SELECT sessions.open_session('online', '1 day', 'V020-' || g) FROM generate_series(1, 2) g" >/dev/null
state020=$(q -d $from020 -c "SELECT sessions.session_state('V020-1')")
token020=$(q -d $from020 -c "SELECT continuation FROM sessions.list_sessions('online', page_size => 1)")
q -d $from020 -c "ALTER EXTENSION session_analytics UPDATE" >/dev/null 2>&1
is "$(q -d $from020 -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "$current" \
   "0.2.0 installed, then updated to $current"
d=$(diff -u --label "updated from 0.2.0" --label "fresh $current" \
        <(q -d $from020 -f "$SA_SRC/tools/catalog_dump.sql") "$SA_TEST_DIR/catalog_fresh.txt")
ok $? "catalog after the update from 0.2.0 equals a fresh install"
[ -n "$d" ] && sed 's/^/# /' <<<"$d" | head -150
is "$(q -d $from020 -c "SELECT sessions.resume_session('$state020') ->> 'reference',
                               (SELECT count(*) FROM sessions.list_sessions('online', page_size => 1, continuation => '$token020') l,
                                       jsonb_array_elements(l.items))")" "V020-1|1" \
   "a state document and a continuation token signed under 0.2.0 verify after the update (same key, same signatures)"
q -c "DROP DATABASE $from020 WITH (FORCE)" 2>/dev/null

# --- the data is unchanged -----------------------------------------------------------
after=$(q -d $old <<<"$readback_sql" 2>&1)
d=$(diff -u --label "before the update" --label "after the update" <(echo "$before") <(echo "$after"))
ok $? "every row, stored session_stats value (text, binary, days, totals) and the event sequence read back unchanged"
[ -n "$d" ] && sed 's/^/# /' <<<"$d" | head -80

# pg_dump writes CREATE EXTENSION without a version: the 0.1.0 dump restored
# where the current release is installed creates it directly and loads the
# 0.1.0 rows into it. (Not dumped, by design, so compared without them:
# the event log -- only its sequence is dumped, and the restore's inserts log
# events of their own -- and the short-lived leases, docs/lifecycle.md.)
rst=upgrade_restored
q -c "DROP DATABASE IF EXISTS $rst WITH (FORCE)" -c "CREATE DATABASE $rst" 2>/dev/null
out=$(pg_restore -d $rst --exit-on-error "$SA_TEST_DIR/upgrade_from_010.dump" 2>&1)
restored=$(q -d $rst -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'" 2>&1; q -d $rst <<<"$readback_sql" 2>&1)
d=$(diff -u --label "0.1.0 before the update" --label "its dump restored" <(echo "$current"; grep -vE '^(sessions.event_log|sessions.session_lease|event_seq): ' <<<"$before") \
        <(grep -vE '^(sessions.event_log|sessions.session_lease|event_seq): ' <<<"$restored"))
ok $? "a 0.1.0 dump restores into $current with every row and stored value unchanged"
[ -n "$d$out" ] && { echo "$out"; echo "$d"; } | sed 's/^/# /' | head -40
is "$(q -d $rst -c "SELECT (SELECT count(*) FROM sessions.summary_delta) > 0, (SELECT count(*) FROM sessions.check_summaries())" | paste -sd'|')" "t|0" \
   "the restored 0.1.0 dump has live summaries equal to a scan"
q -c "DROP DATABASE $rst WITH (FORCE)" 2>/dev/null

# --- the current API on the migrated rows ---------------------------------------------
is "$(q -d $old -c "SELECT (SELECT count(*) FROM sessions.summary_delta) > 0, (SELECT count(*) FROM sessions.check_summaries())" | paste -sd'|')" "t|0" \
   "ALTER EXTENSION UPDATE built the live summaries of the sessions 0.1.0 stored (check_summaries() empty)"
is "$(q -d $old -c "SELECT sessions.ocpi_get('NL', 'STK', '101') -> 'charging_periods' IS NOT NULL,
                           (sessions.ocpi_list(NULL)).total_count" | paste -sd' ')" "t|3" \
   "OCPI GET and list read the sessions 0.1.0 stored"
is "$(q -d $old -c "SELECT (sessions.session_status('REF-ON-1') -> 'status' ->> 'code'),
                           sessions.session_secret('REF-ON-1'), (SELECT holder FROM sessions.session_lease),
                           (SELECT count(*) FROM sessions.associates((SELECT session_key FROM sessions.store
                                                                       WHERE doc ->> 'identifier' = 'V-1')))")" \
   "150|\\x00ff10|worker-1|2" "invoice status, secret, lease and telemetry associates survive"
is "$(q -d $old -c "SELECT sessions.rollup(stats)::text = (SELECT stats::text FROM public.stats_by_site WHERE site = 'rollup')
                      FROM public.stats_by_site WHERE site NOT LIKE 'all/%' AND site NOT IN ('text', 'rollup')
                       AND site NOT LIKE 'telemetry:%'")" "t" \
   "rollup over 0.1.0 values stored in a user table gives the value 0.1.0 stored"
is "$(q -d $old -c "SELECT count(*) > 50 FROM sessions.events_since(0, NULL, 1000)")" "t" \
   "events written under 0.1.0 are delivered by events_since()"
is "$(q -d $old -c "SELECT sessions.open_session('online', '1 hour', 'REF-NEW-1') IS NOT NULL,
                           (SELECT count(*) FROM sessions.event_log WHERE seq > (SELECT max(seq) - 1 FROM sessions.event_log))")" \
   "t|1" "a session opened after the update is stored and logs its event"

# Tokens and state documents were signed by 0.1.0's key, which the update
# replaces (the signing changed, docs/upgrading.md): refused (a format 1
# state document with 0A000, a token with 22023),
# like after rotate_lifecycle_key(); a new one works.
q -d $old -c "CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS \$\$
              BEGIN EXECUTE stmt; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END \$\$"
is "$(q -d $old -c "SELECT public.sqlstate_of(format('SELECT sessions.resume_session(%L)', (SELECT value FROM public.client_state WHERE what = 'state'))),
                           public.sqlstate_of(format('SELECT * FROM sessions.list_sessions(%L, continuation => %L)', 'online',
                                                     (SELECT value FROM public.client_state WHERE what = 'token'))),
                           public.sqlstate_of('SELECT sessions.resume_session(sessions.session_state(''REF-ON-1''))')")" \
   "0A000|22023|ok" "0.1.0 state documents (format 1: 0A000) and continuation tokens (new key: 22023) are refused, new ones work"

# --- the update refuses a schema a non-superuser controls -----------------------------------
# Its functions run as the superuser updating, later as the expiry worker:
# the same guard as CREATE EXTENSION (docs/security.md).
hij=upgrade_hijack
q -c "DROP DATABASE IF EXISTS $hij WITH (FORCE)" -c "CREATE DATABASE $hij" 2>/dev/null
q -c "DROP ROLE IF EXISTS upgrade_squatter" -c "CREATE ROLE upgrade_squatter" 2>/dev/null
q -d $hij -c "CREATE EXTENSION session_analytics VERSION '0.1.0'" -c "GRANT CREATE ON SCHEMA sessions TO upgrade_squatter"
like "$(q -d $hij -c "ALTER EXTENSION session_analytics UPDATE" 2>&1)" \
     "refusing to install session_analytics into the existing schema \"sessions\": upgrade_squatter may create objects in it" \
     "ALTER EXTENSION UPDATE refuses when a non-superuser may create in schema sessions"
q -d $hij -c "REVOKE CREATE ON SCHEMA sessions FROM upgrade_squatter"
is "$(q -d $hij -c "ALTER EXTENSION session_analytics UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'" 2>&1)" \
   "$current" "and goes through once the grant is revoked"
q -c "DROP DATABASE $hij WITH (FORCE)" -c "DROP ROLE upgrade_squatter" 2>/dev/null

# --- the pgTAP suites against an updated database --------------------------------------------
q -d $tpl -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION dblink" \
  -c "CREATE EXTENSION session_analytics VERSION '0.1.0'" -c "ALTER EXTENSION session_analytics UPDATE"
is "$(q -d $tpl -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'")" "$current" \
   "template for pgTAP: 0.1.0 installed, then updated, no data"
i=0
for f in "${pgtap[@]}"; do
    i=$((i + 1)); db=upgrade_tap_$i
    q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db TEMPLATE $tpl" 2>/dev/null
    out=$(pg_prove -d "$db" "$f" 2>&1)
    rc=$?
    ok $rc "pgTAP $(basename "$f") passes on the updated database"
    [ $rc -ne 0 ] && grep -vE '^(All tests|Files=|Result:)' <<<"$out" | sed 's/^/# /' | head -40
    q -c "DROP DATABASE $db WITH (FORCE)" 2>/dev/null
done

for db in $old $new $tpl; do q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null; done
rm -f "$SA_TEST_DIR/upgrade_from_010.dump"
