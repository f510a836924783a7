#!/usr/bin/env bash
# The layering of events, notifier and workers (docs/architecture.md,
# "Events, notifier and workers"). From the bottom: the log writer
# (event_log) and the hand-off (notify_handoff) know no other events file;
# payloads and channels (event_payload) know the log's row only; the
# transaction's delivery (event_xact) sits over those three; the store
# trigger (store_events) over the log writer and the delivery; pruning
# (event_prune) stands alone; the notifier (notify_worker) is the top; the
# worker files are thin loops over workers/worker_common.c and do not reach into
# each other. Every dependency points down: each file may include and call
# only the files listed for it below. Reads the sources only (and the server
# headers, for the name check).
. "$SA_SRC/test/cli/tap.sh"
plan 31
src=$SA_SRC/src

# The project headers (those that exist in src/) a file includes, sorted.
project_includes() {
    sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src/$1" |
        while read -r h; do [ -e "$src/$h" ] && echo "$h"; done | sort | tr '\n' ' '
}
is "$(project_includes workers/worker_common.h)" "" "workers/worker_common.h includes no project header"
is "$(project_includes workers/worker_common.c)" "session_analytics.h workers/worker_common.h " \
   "workers/worker_common.c: its header and the module header only (no worker)"
is "$(project_includes events/notify_handoff.h)" "" "events/notify_handoff.h includes no project header"
is "$(project_includes events/notify_handoff.c)" "events/notify_handoff.h session_analytics.h " \
   "events/notify_handoff.c: its header and the module header only (no events file, no worker)"
is "$(project_includes events/event_log.h)" "" "events/event_log.h includes no project header"
is "$(project_includes events/event_log.c)" "events/event_log.h session_analytics.h " \
   "events/event_log.c: its header and the module header only"
is "$(project_includes events/event_payload.h)" "events/event_log.h " "events/event_payload.h: the log's row only"
is "$(project_includes events/event_payload.c)" "events/event_log.h events/event_payload.h " \
   "events/event_payload.c: the log's row and its header (no transaction state, no catalog helper)"
is "$(project_includes events/event_xact.h)" "events/event_log.h " "events/event_xact.h: the log's row only"
is "$(project_includes events/event_xact.c)" "events/event_log.h events/event_payload.h events/event_xact.h events/notify_handoff.h session_analytics.h " \
   "events/event_xact.c: the log's row, payloads and the hand-off (not the trigger, not the notifier)"
is "$(project_includes events/store_events.c)" "events/event_log.h events/event_xact.h session_analytics.h " \
   "events/store_events.c: the log writer and the delivery (no payloads, no hand-off, no notifier)"
is "$(project_includes events/event_prune.c)" "session_analytics.h " "events/event_prune.c: the module header only"
is "$(project_includes workers/expiry_worker.c)" "session_analytics.h workers/worker_common.h " \
   "workers/expiry_worker.c builds on workers/worker_common.h only"
is "$(project_includes events/event_relay.h)" "" "events/event_relay.h includes no project header"
is "$(project_includes events/event_relay.c)" "events/event_log.h events/event_relay.h events/event_xact.h session_analytics.h " \
   "events/event_relay.c: the log writer and the delivery (no payloads, no hand-off, no notifier)"
is "$(project_includes workers/relay_worker.c)" "events/event_relay.h session_analytics.h workers/worker_common.h " \
   "workers/relay_worker.c builds on the relay and workers/worker_common.h only"
is "$(project_includes workers/notify_worker.c)" "events/event_log.h events/event_xact.h events/notify_handoff.h session_analytics.h workers/worker_common.h " \
   "workers/notify_worker.c builds on the delivery, the log, the hand-off and workers/worker_common.h"

# No hidden links: names one file defines used by a file that must not know it.
strip_comments() { sed 's://.*$::' "$@" | perl -0pe 's:/\*.*?\*/::gs; s:"(\\.|[^"\\])*"::g'; }
# Functions a file defines (PostgreSQL style: the name at the start of a line).
defined() { strip_comments "$@" | sed -n 's/^\([a-z_][a-z0-9_]*\)(.*/\1/p' | sort -u; }
# Lines of files $2.. that use a name of list $1 (one word a line).
uses() { local names=$1; shift; [ -n "$names" ] && strip_comments "$@" | grep -nwF -f <(echo "$names"); }

# The files of this area and, for each, the files whose functions it may call.
files="events/event_log.c events/event_payload.c events/notify_handoff.c events/event_xact.c events/store_events.c events/event_prune.c
       events/event_relay.c workers/worker_common.c workers/expiry_worker.c workers/notify_worker.c workers/relay_worker.c"
declare -A may_call=(
    [events/event_log.c]=""
    [events/event_payload.c]="events/event_log.c"
    [events/notify_handoff.c]=""
    [events/event_xact.c]="events/event_log.c events/event_payload.c events/notify_handoff.c"
    [events/store_events.c]="events/event_log.c events/event_xact.c"
    [events/event_prune.c]=""
    [events/event_relay.c]="events/event_log.c events/event_xact.c"
    [workers/worker_common.c]=""
    [workers/expiry_worker.c]="workers/worker_common.c"
    [workers/notify_worker.c]="events/event_log.c events/event_xact.c events/notify_handoff.c workers/worker_common.c"
    [workers/relay_worker.c]="events/event_relay.c workers/worker_common.c"
)
for f in $files; do
    out=""
    for g in $files; do
        [ "$g" = "$f" ] && continue
        grep -qw -- "$g" <<<"${may_call[$f]}" && continue
        hit=$(uses "$(defined "$src/$g")" "$src/$f") && out="$out${out:+; }$g: $(echo "$hit" | head -3 | tr '\n' ' ')"
    done
    is "$out" "" "$f calls nothing of: $(for g in $files; do [ "$g" != "$f" ] && ! grep -qw -- "$g" <<<"${may_call[$f]}" && printf '%s ' "${g%.c}"; done)"
done

out=$(for f in $files; do
          strip_comments "$src/$f" | grep -nE '^\s*extern\b' | sed "s|^|$f:|"
      done)
is "$out" "" "no extern declarations in these .c files (the headers carry them)"

# No source file shares its name with a PostgreSQL server file (as the old
# event_trigger.c did with commands/event_trigger.c): compared against the
# server headers of the build, whose names follow core's .c files.
inc=""
for c in ${PG_CONFIG:-} /usr/bin/pg_config pg_config; do
    d=$("$c" --includedir-server 2>/dev/null) && [ -f "$d/postgres.h" ] && { inc=$d; break; }
done
clash=""
if [ -n "$inc" ]; then
    for f in $(find "$src" -name '*.[ch]' | sort); do
        b=$(basename "$f"); b=${b%.[ch]}
        hit=$(find "$inc" -name "$b.h" -print -quit)
        [ -n "$hit" ] && clash="$clash $(basename "$f")=${hit#"$inc"/}"
    done
fi
[ -n "$inc" ] || clash=" (server headers not found)"
is "$clash" "" "no src/ file is named like a PostgreSQL server file"

# The quality bar: no XX000 reachable from SQL. sessions.prune_events()
# used to report SPI failures as ERRCODE_INTERNAL_ERROR.
out=$(for f in $files; do strip_comments "$src/$f" | grep -n 'ERRCODE_INTERNAL_ERROR' | sed "s|^|$f:|"; done)
is "$out" "" "no file of this area raises ERRCODE_INTERNAL_ERROR (XX000)"
