#!/usr/bin/env bash
# Privilege audit: every function, table, sequence, view, type and the schema
# of the extension with its grants (tools/privileges.sql) must match
# test/privileges.approved, so a new object or a loosened grant fails the
# build until the approved list is regenerated (tools/privileges.sh --update)
# and the diff reviewed. Then the rules the list must follow, each checked
# on its own.
. "$SA_SRC/test/cli/tap.sh"
plan 6
export PGDATABASE=privs_audit
fresh_db privs_audit
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

got=$("$SA_SRC/tools/privileges.sh" 2>&1)
d=$(diff -u --label approved --label installed "$SA_SRC/test/privileges.approved" - <<<"$got")
ok $? "grants match test/privileges.approved"
[ -n "$d" ] && sed 's/^/# /' <<<"$d" | head -80

# A table any role but the owner may use has row-level security.
is "$(q -c "
SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY 1)
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
   AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
   AND EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner)")" "" \
   "every table granted to a role has row-level security"

# Nothing of the extension is usable by PUBLIC (functions default to PUBLIC
# EXECUTE, types to PUBLIC USAGE: each needs an explicit REVOKE).
is "$("$SA_SRC/tools/privileges.sh" | grep -E '(: | )PUBLIC:' | cut -d: -f1 | paste -sd, -)" "" \
   "nothing is granted to PUBLIC"

# Every SECURITY DEFINER function pins its search_path.
is "$(q -c "
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
   AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')")" "" \
   "every SECURITY DEFINER function pins search_path"

# The extension's roles cannot write the role map or the signing key.
is "$(q -c "
SELECT string_agg(r || ' ' || t || ' ' || p, ', ' ORDER BY 1)
  FROM unnest(ARRAY['session_analytics_reader', 'session_analytics_writer']) r,
       unnest(ARRAY['sessions.role_namespace', 'sessions.lifecycle_key']) t,
       unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
 WHERE has_table_privilege(r, t, p)")" "" "no extension role may write role_namespace or lifecycle_key"
# Every function and aggregate says what it is for.
is "$(q -c "
SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
   AND obj_description(p.oid, 'pg_proc') IS NULL")" "" "every function has a COMMENT"
psql -X -q -d postgres -c "DROP DATABASE privs_audit WITH (FORCE)" >/dev/null
