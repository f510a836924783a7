#!/usr/bin/env bash
# The layering of events, notifier and workers (docs/architecture.md,
# "Events, notifier and workers"): the worker files are thin loops over
# worker_common.c and do not reach into each other; the hand-off
# (notify_handoff.c) sits below both the store trigger (event_trigger.c) and
# the notifier (notify_worker.c), and the trigger knows nothing of the
# notifier worker. Reads the sources only.
. "$SA_SRC/test/cli/tap.sh"
plan 13
src=$SA_SRC/src

# The project headers (those that exist in src/) a file includes, sorted.
project_includes() {
    sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src/$1" |
        while read -r h; do [ -e "$src/$h" ] && echo "$h"; done | sort | tr '\n' ' '
}
is "$(project_includes worker_common.h)" "" "worker_common.h includes no project header"
is "$(project_includes worker_common.c)" "session_analytics.h worker_common.h " \
   "worker_common.c: its header and the module header only (no worker)"
is "$(project_includes notify_handoff.h)" "" "notify_handoff.h includes no project header"
is "$(project_includes notify_handoff.c)" "notify_handoff.h session_analytics.h " \
   "notify_handoff.c: its header and the module header only (no trigger, no worker)"
is "$(project_includes event_trigger.c)" "notify_handoff.h session_analytics.h " \
   "event_trigger.c: the hand-off, not the notifier or the worker plumbing"
is "$(project_includes expiry_worker.c)" "session_analytics.h worker_common.h " \
   "expiry_worker.c builds on worker_common.h only"
is "$(project_includes notify_worker.c)" "notify_handoff.h session_analytics.h worker_common.h " \
   "notify_worker.c builds on the hand-off and worker_common.h"

# No hidden links: names one file defines used by a file that must not know it.
strip_comments() { sed 's://.*$::' "$@" | perl -0pe 's:/\*.*?\*/::gs; s:"(\\.|[^"\\])*"::g'; }
# Functions a file defines (PostgreSQL style: the name at the start of a line).
defined() { strip_comments "$@" | sed -n 's/^\([a-z_][a-z0-9_]*\)(.*/\1/p' | sort -u; }
# Lines of files $2.. that use a name of list $1 (one word a line).
uses() { local names=$1; shift; [ -n "$names" ] && strip_comments "$@" | grep -nwF -f <(echo "$names"); }

out=$(uses "$(defined "$src/notify_worker.c")" "$src/event_trigger.c")
is "$out" "" "event_trigger.c calls nothing notify_worker.c defines"
out=$(uses "$(defined "$src/notify_worker.c")" "$src/expiry_worker.c")
is "$out" "" "expiry_worker.c calls nothing notify_worker.c defines"
out=$(uses "$(defined "$src/expiry_worker.c")" "$src/notify_worker.c")
is "$out" "" "notify_worker.c calls nothing expiry_worker.c defines"
out=$(uses "$(defined "$src/expiry_worker.c" "$src/notify_worker.c" "$src/event_trigger.c")" \
           "$src/worker_common.c" "$src/worker_common.h" "$src/notify_handoff.c")
is "$out" "" "worker_common.* and notify_handoff.c call nothing the workers or the trigger define"
out=$(uses "$(defined "$src/worker_common.c")" "$src/event_trigger.c" "$src/notify_handoff.c")
is "$out" "" "the trigger and the hand-off use no worker plumbing"
out=$(for f in worker_common.c notify_handoff.c event_trigger.c expiry_worker.c notify_worker.c; do
          strip_comments "$src/$f" | grep -nE '^\s*extern\b' | sed "s|^|$f:|"
      done)
is "$out" "" "no extern declarations in these .c files (the headers carry them)"
