#!/usr/bin/env bash
# The layers of the tree (docs/architecture.md): which directory of src/ may
# include which project header, and which SQL part may use which. The finer
# rules inside a layer are in layers_analytics.t, layers_events.t and
# ocpi_layers.t. Reads the sources only.
. "$SA_SRC/test/cli/tap.sh"
src=$SA_SRC/src
cd "$src" || exit 1

# What each layer may include besides its own directory: the module header
# (GUC prefix, init hooks, the extension's schema) and, for the workers, the
# writer/notifier hand-off (and the relay worker, the Citus event relay). The store layers (ocpi, lifecycle) and the
# analytics know nothing of events or workers; nothing includes a worker.
# The PowerFlex row check reads jsonb through ocpi/jsonb_access.h (generic
# jsonb access, no OCPI); its memory policy needs the module header (GUC
# prefix, init hook).
declare -A allowed=(
    [analytics]="session_analytics.h"
    [ocpi]=""
    [powerflex]="ocpi/jsonb_access.h session_analytics.h"
    [lifecycle]="session_analytics.h"
    [store]="session_analytics.h"
    [events]="session_analytics.h"
    [summaries]="analytics/analytics_params.h session_analytics.h"
    [workers]="session_analytics.h events/notify_handoff.h events/event_xact.h events/event_log.h events/event_relay.h"
)
layers=(analytics ocpi powerflex lifecycle store summaries events workers)
plan $(( ${#layers[@]} + 6 ))

# The project headers (files of src/) that the C files of a directory include.
includes_of() {
    for f in "$@"; do sed -n "s|^#include \"\([^\"]*\)\".*|$f: \1|p" "$f"; done |
        while read -r f h; do [ -e "$h" ] && echo "$f $h"; done
}
for d in "${layers[@]}"; do
    bad=$(includes_of "$d"/*.[ch] | while read -r f h; do
              case "$h" in "$d"/*) continue ;; esac
              grep -qwF -- "$h" <<<"${allowed[$d]}" || echo "$f includes $h"
          done)
    is "$bad" "" "src/$d/ includes only its own headers${allowed[$d]:+ and ${allowed[$d]}}"
done

is "$(ls ./*.c ./*.h 2>/dev/null | sed 's|^\./||' | sort | tr '\n' ' ')" \
   "$(ls compat_symbols.c 2>/dev/null | tr '\n' ' ')session_analytics.c session_analytics.h " \
   "only the module's entry point (and the old releases' symbols) sit at the top of src/; every concern has its directory"
bad=$(includes_of session_analytics.c session_analytics.h | grep -v ' session_analytics.h$')
is "$bad" "" "the module entry point includes no layer (each layer's init hook is declared in session_analytics.h)"

# The command-line tools: libpq, libc and their own files only.
bad=$(for f in tools/*.[ch]; do
          sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r h; do
              [ -e "tools/$h" ] || echo "$f includes \"$h\""
          done
      done)
is "$bad" "" "src/tools/ includes only its own headers (no server header, no module header)"
bad=$(grep -n '^#include <' tools/*.[ch] | grep -vE '<(libpq-fe\.h|[a-z]+\.h|sys/[a-z]+\.h|librsvg/rsvg\.h|cairo\.h)>')
is "$bad" "" "src/tools/ uses libpq and the C library (and librsvg for PNG) only"
bad=$(grep -ln 'session_report\.h\|report_[a-z]*\.h' tools/session_listen.c)
is "$bad" "" "session-listen shares only tool_common with session-report"

# SQL parts are joined in name order and each may use only the parts before
# it: a name sessions.x used in part N is created in part N or earlier.
# Comments and string literals (COMMENT ON texts) are left out.
bad=$(python3 - sql/*.sql <<'PY'
import re, sys
parts = sys.argv[1:]
created = {}
rx = re.compile(r'CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|AGGREGATE|VIEW|TABLE|SEQUENCE|TYPE|PROCEDURE)\s+sessions\.([a-z_0-9]+)', re.I)
def strip(s):
    s = re.sub(r'/\*.*?\*/', '', s, flags=re.S)
    s = re.sub(r"'(?:[^']|'')*'", "''", s)
    return re.sub(r'--[^\n]*', '', s)
texts = {p: strip(open(p).read()) for p in parts}
for p in parts:
    for m in rx.finditer(texts[p]):
        created.setdefault(m.group(1), p)
for p in parts:
    for m in re.finditer(r'sessions\.([a-z_0-9]+)', texts[p]):
        c = created.get(m.group(1))
        if c and c > p:
            print('%s uses sessions.%s of the later %s' % (p, m.group(1), c))
PY
)
is "$bad" "" "each SQL part uses only what it or an earlier part creates (the layers' order)"
