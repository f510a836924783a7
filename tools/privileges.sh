#!/usr/bin/env bash
# tools/privileges.sh: the privilege audit list of the extension.
#
#   tools/privileges.sh            print the list for the database the PG*
#                                  variables name (the extension installed)
#   tools/privileges.sh --update   build, install into a throwaway cluster
#                                  (tools/pgcluster.sh), and rewrite
#                                  test/privileges.approved from it
#
# test/cli/privileges.t compares a fresh install against the approved file;
# after a deliberate change of grants, run --update and review the diff.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)

list() { psql -X -q -At -v ON_ERROR_STOP=1 -f "$SRC/tools/privileges.sql"; }

if [ "${1:-}" != --update ]; then
    list
    exit
fi
make -C "$SRC" -s >/dev/null
. "$SRC/tools/pgcluster.sh"
pgc_init "$SRC/.privileges"
pgc_stage
pgc_start
export PATH=$PGC_BIN:$PATH
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION session_analytics" >/dev/null
list >"$SRC/test/privileges.approved"
pgc_stop
echo "wrote test/privileges.approved ($(wc -l <"$SRC/test/privileges.approved") objects)"
