#!/usr/bin/env bash
# Install hijack: CREATE EXTENSION must refuse an existing schema "sessions"
# that a non-superuser controls (owns, may create in, or has objects in),
# before any of its objects can capture a call; a clean schema a superuser
# owns, or none, installs.
. "$SA_SRC/test/cli/tap.sh"
plan 14
db=hijack_test
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
reset_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null 2>&1
    q -c "CREATE TABLE public.pwned (who text, at timestamptz DEFAULT now()); GRANT INSERT ON public.pwned TO PUBLIC"
}
psql -X -q -d postgres -c "DROP ROLE IF EXISTS atk_hijack" -c "CREATE ROLE atk_hijack LOGIN" >/dev/null 2>&1

# The attacker's functions: better matches than the pg_catalog built-ins
# for calls the install script's functions make, recording who ran them.
attacker_functions="
CREATE FUNCTION sessions.concat_ws(text, integer, text, text, uuid, bigint, bigint) RETURNS text
LANGUAGE sql AS \$\$ INSERT INTO public.pwned (who) VALUES (current_user) RETURNING 'x' \$\$;
CREATE FUNCTION sessions.jsonb_build_object(text, integer, text, bigint, text, timestamptz) RETURNS jsonb
LANGUAGE sql AS \$\$ INSERT INTO public.pwned (who) VALUES (current_user) RETURNING '{}'::jsonb \$\$;"

# 1. Schema owned by an unprivileged role, with the attacker's functions.
reset_db
q -c "CREATE SCHEMA sessions AUTHORIZATION atk_hijack" -c "GRANT USAGE ON SCHEMA sessions TO PUBLIC"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -U atk_hijack -c "$attacker_functions"
ok $? "setup: the attacker owns schema sessions and has put functions in it"
out=$(psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "CREATE EXTENSION session_analytics" 2>&1)
rc=$?
[ $rc -ne 0 ]; ok $? "CREATE EXTENSION into a schema owned by a non-superuser fails"
like "$out" "ERROR:  42501: refusing to install session_analytics into the existing schema \"sessions\": it is owned by the non-superuser role atk_hijack" \
     "refused with 42501 naming the owner"
like "$out" "HINT:  Drop the schema" "the error says what to do"
is "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'session_analytics'")" "0" "nothing was installed"
is "$(q -c "SELECT count(*) FROM public.pwned")" "0" "the attacker's concat_ws / jsonb_build_object never ran"

# 2. Superuser-owned schema in which the attacker may create objects.
reset_db
q -c "CREATE SCHEMA sessions" -c "GRANT CREATE, USAGE ON SCHEMA sessions TO atk_hijack"
out=$(psql -X -q -v VERBOSITY=verbose -d "$db" -c "CREATE EXTENSION session_analytics" 2>&1)
like "$out" "42501: refusing .*atk_hijack may create objects in it" "refused when a non-superuser has CREATE on the schema"

# 3. CREATE granted to PUBLIC.
reset_db
q -c "CREATE SCHEMA sessions" -c "GRANT CREATE ON SCHEMA sessions TO PUBLIC"
out=$(psql -X -q -v VERBOSITY=verbose -d "$db" -c "CREATE EXTENSION session_analytics" 2>&1)
like "$out" "42501: refusing .*PUBLIC may create objects in it" "refused when PUBLIC has CREATE on the schema"

# 4. The attacker's CREATE was revoked, but its functions are still there.
reset_db
q -c "CREATE SCHEMA sessions" -c "GRANT CREATE, USAGE ON SCHEMA sessions TO atk_hijack"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -U atk_hijack -c "$attacker_functions"
q -c "REVOKE CREATE ON SCHEMA sessions FROM atk_hijack"
out=$(psql -X -q -v VERBOSITY=verbose -d "$db" -c "CREATE EXTENSION session_analytics" 2>&1)
like "$out" "42501: refusing .*contains objects owned by the non-superuser role atk_hijack" \
     "refused when the schema holds a non-superuser's objects"
is "$(q -c "SELECT count(*) FROM public.pwned")" "0" "and none of them ran"

# 5. A clean superuser-owned schema (USAGE granted is fine) installs.
reset_db
q -c "CREATE SCHEMA sessions" -c "GRANT USAGE ON SCHEMA sessions TO atk_hijack"
q -c "CREATE EXTENSION session_analytics"
ok $? "a clean schema owned by a superuser installs"
is "$(q -c "SELECT sessions.maintenance() ? 'expired'")" "t" "and works"

# 6. No schema: CREATE EXTENSION creates it; reinstalling over its own works.
reset_db
q -c "CREATE EXTENSION session_analytics" -c "DROP EXTENSION session_analytics" -c "CREATE EXTENSION session_analytics"
ok $? "installs without a schema, and again after DROP EXTENSION"
is "$(q -c "SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'sessions'")" "t" \
   "the schema it created belongs to the installing superuser"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS atk_hijack" >/dev/null 2>&1
