#!/usr/bin/env bash
# The naming rule of C symbols (docs/development.md, "Conventions"): every
# SQL-callable C function of the extension is bound to the symbol sa_
# followed by its SQL name (one symbol for all signatures of an overloaded
# name), and the only other exported function symbols are the names the
# frozen install scripts of 0.1.0 and 0.2.0 use, kept in
# src/compat_symbols.c as wrappers of the function that replaced them.
. "$SA_SRC/test/cli/tap.sh"
plan 9
export PGDATABASE=naming_rule
fresh_db naming_rule
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=$SA_SRC/src
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SA_SRC/session_analytics.control")

# --- the catalog of a fresh install -------------------------------------------
ext_c_functions="
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_analytics')
   AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')"
is "$(q -c "SELECT string_agg(p.oid::regprocedure::text || ' -> ' || p.prosrc, ', ' ORDER BY 1) $ext_c_functions
              AND p.prosrc <> 'sa_' || p.proname")" "" \
   "every C function of the extension is bound to the symbol sa_ || proname"
# Not vacuous: the query sees every C function the install script creates.
n_script=$(cat "$src"/sql/*.sql | grep -c "AS 'MODULE_PATHNAME', '")
is "$(q -c "SELECT count(*) $ext_c_functions AND p.probin = '\$libdir/session_analytics'")" "$n_script" \
   "the check covers all $n_script C functions of the master SQL (all in \$libdir/session_analytics)"

# --- the sources ------------------------------------------------------------------
# Symbols: PG_FUNCTION_INFO_V1 of the given files; the symbols an install
# script names; its (SQL name, symbol) pairs.
finfo() { sed -n 's/^PG_FUNCTION_INFO_V1(\([a-z_0-9]*\));.*/\1/p' "$@" | sort -u; }
script_syms() { grep -ho "MODULE_PATHNAME', '[a-z_0-9]*'" "$@" | cut -d"'" -f3 | sort -u; }
script_pairs() {
    awk '/CREATE (OR REPLACE )?FUNCTION/ { match($0, /FUNCTION sessions\.[a-z_0-9]+/); name = substr($0, RSTART + 18, RLENGTH - 18) }
         /MODULE_PATHNAME/ { match($0, /MODULE_PATHNAME., .[a-z_0-9]+/); print name, substr($0, RSTART + 19, RLENGTH - 19) }' "$@" | sort -u
}
module=$(ls "$src"/*.c | grep -v '/compat_symbols\.c$')
frozen=("$src/session_analytics--0.1.0.sql" "$src/session_analytics--0.2.0.sql")

is "$(comm -3 <(finfo $module) <(script_syms "$src"/sql/*.sql) | tr -s '\t\n' '  ')" "" \
   "the module's SQL-callable functions (src/*.c but compat_symbols.c) are exactly the symbols the master SQL names"
is "$(finfo $module | grep -v '^sa_' | paste -sd' ' -)" "" "each of them is named sa_..."

compat=$(finfo "$src/compat_symbols.c")
old=$(comm -23 <(script_syms "${frozen[@]}") <(script_syms "$src"/sql/*.sql))
is "$(comm -3 <(echo "$compat") <(echo "$old") | tr -s '\t\n' '  ')" "" \
   "compat_symbols.c defines exactly the symbols of the 0.1.0 and 0.2.0 scripts that $current no longer names ($(wc -w <<<"$old"))"
like "$(wc -w <<<"$compat")" '^[1-9]' "compat_symbols.c keeps old symbols (not an empty list)"

# Each wrapper hands the call to sa_ + the SQL name the frozen script binds
# the old symbol to, and does nothing else.
got=$(perl -0ne 'while (/^Datum\n([a-z_0-9]+)\(PG_FUNCTION_ARGS\)\n\{\n\treturn ([a-z_0-9]+)\(fcinfo\);\n\}\n/mg) { print "$1 $2\n" }' \
          "$src/compat_symbols.c" | sort)
want=$(script_pairs "${frozen[@]}" | while read -r name sym; do
           grep -qx "$sym" <<<"$old" && echo "$sym sa_$name"; done | sort -u)
is "$got" "$want" "each old symbol is a one-line wrapper of sa_ + the SQL name the frozen scripts give it"
strip_comments() { sed 's://.*$::' "$@" | perl -0pe 's:/\*.*?\*/::gs'; }
is "$(strip_comments "$src/compat_symbols.c" | grep -nE '^\s*extern\b')" "" \
   "compat_symbols.c declares nothing itself (the owning headers do)"

# --- the old symbols serve an old catalog -------------------------------------------
# A database installed as 0.2.0 and not updated calls the lifecycle
# functions through the 0.2.0 symbols (0.1.0's are called by upgrade.t's data
# load): each reaches the function that replaced it, whose own refusal shows.
q -d postgres -c "DROP DATABASE IF EXISTS naming_020 WITH (FORCE)" -c "CREATE DATABASE naming_020" >/dev/null
q -d naming_020 -c "CREATE EXTENSION session_analytics VERSION '0.2.0'"
st() { psql -X -q -At -d naming_020 -v VERBOSITY=terse -c "$1" 2>&1 | tail -1; }
got="$(q -d naming_020 -c "SELECT string_agg(DISTINCT prosrc, ' ' ORDER BY prosrc) FROM pg_proc
                           WHERE pronamespace = 'sessions'::regnamespace AND prosrc LIKE 'lifecycle\_%'")
$(st "SELECT sessions.session_state('no-such-session')")
$(st "SELECT sessions.resume_session('[]')")
$(st "SELECT sessions.continuation_cursor('x', repeat('a', 32))")
$(st "SELECT sessions.continuation_token(repeat('a', 32), 'online', '00000000-0000-0000-0000-000000000000')")
$(q -d naming_020 -c "SELECT sessions.rotate_lifecycle_key()" 2>&1 && echo rotated)"
is "$(echo $got)" "lifecycle_continuation_cursor lifecycle_continuation_token lifecycle_key_changed lifecycle_resume_session lifecycle_rotate_key lifecycle_session_state \
ERROR: session \"no-such-session\" does not exist \
ERROR: state must be a JSON object from sessions.session_state() \
ERROR: continuation token is malformed or was altered \
ERROR: session with key 00000000-0000-0000-0000-000000000000 does not exist \
rotated" \
   "on 0.2.0's catalog the old symbols run the current functions (their refusals; a key rotation through the trigger)"
q -d postgres -c "DROP DATABASE naming_020 WITH (FORCE)" -c "DROP DATABASE naming_rule WITH (FORCE)" >/dev/null
