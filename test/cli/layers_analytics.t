#!/usr/bin/env bash
# The analytics layering (docs/architecture.md, "Analytics"): each file
# includes only the project headers of the layers below it, the scalar
# functions and the session_stats type do not call each other, and nothing
# of the analytics reaches into the store. Reads the sources only.
. "$SA_SRC/test/cli/tap.sh"
plan 11
src=$SA_SRC/src

# The project headers (those that exist in src/) a file includes, sorted.
project_includes() {
    sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src/$1" |
        while read -r h; do [ -e "$src/$h" ] && echo "$h"; done | sort | tr '\n' ' '
}
is "$(project_includes analytics/analytics_params.h)" "" "analytics/analytics_params.h includes no project header"
is "$(project_includes analytics/analytics_params.c)" "analytics/analytics_params.h session_analytics.h " \
   "analytics/analytics_params.c: its header and the module header (GUC prefix, init hook) only"
is "$(project_includes analytics/session_math.c)" "analytics/analytics_params.h " "analytics/session_math.c builds on analytics/analytics_params.h only"
is "$(project_includes analytics/session_stats.h)" "analytics/analytics_params.h " "analytics/session_stats.h builds on analytics/analytics_params.h only"
is "$(project_includes analytics/session_stats.c)$(project_includes analytics/session_stats_agg.c)" \
   "analytics/session_stats.h analytics/session_stats.h " "session_stats*.c include analytics/session_stats.h only"
is "$(project_includes analytics/chart_svg.c)" "" "analytics/chart_svg.c includes no project header (reads sessions.days() through SQL)"

# No hidden links: identifiers of the other side, externs in .c files, the store.
strip_comments() { sed 's://.*$::' "$@" | perl -0pe 's:/\*.*?\*/::gs'; }
# Functions a file defines (PostgreSQL style: the name at the start of a line).
defined() { strip_comments "$@" | sed -n 's/^\([a-z_][a-z0-9_]*\)(.*/\1/p' | sort -u; }
# Lines of files $2.. that use a name of list $1 (one word a line).
uses() { local names=$1; shift; [ -n "$names" ] && strip_comments "$@" | grep -nwF -f <(echo "$names"); }
stats=("$src/analytics/session_stats.h" "$src/analytics/session_stats.c" "$src/analytics/session_stats_agg.c")
out=$(uses "$(defined "${stats[@]}"; echo SessionStats; echo SessionStatsDay; echo SessionParams)" \
           "$src/analytics/session_math.c" "$src/analytics/analytics_params.c" "$src/analytics/analytics_params.h")
is "$out" "" "session_math and analytics_params use nothing session_stats* define"
out=$(uses "$(defined "$src/analytics/session_math.c")" "${stats[@]}" "$src/analytics/analytics_params.c" "$src/analytics/analytics_params.h")
is "$out" "" "session_stats* and analytics_params use nothing analytics/session_math.c defines"
out=$(for f in analytics/analytics_params.c analytics/session_math.c analytics/session_stats.c analytics/session_stats_agg.c analytics/chart_svg.c; do
          strip_comments "$src/$f" | grep -nE '^\s*extern\b|sessions\.(store|events?|event_log)\b|\bsa_(events|notif|worker|expiry)[a-z_]*\(' |
              sed "s|^|$f:|"
      done)
is "$out" "" "no extern declarations in the analytics' .c files, no reference to the store or the events"

# The reports' selection (charging kinds, started_at in the range, the sites,
# completed unless include_active) is sessions.report_sessions', which
# session-report reads (docs/analytics.md, "Reports over the store"); the
# reports' PL/pgSQL scans (report_stats, user_report_rows) repeat it because
# Citus plans only queries that name the distributed table (docs/scale-out.md);
# test/pgtap/analytics.sql proves each answers as report_sessions. The live
# summaries' readers pick the same kinds from the summary rows (d.kind).
out=$(grep -nE "s\.kind OPERATOR\(pg_catalog\.=\) ANY \(ARRAY\['ocpi', 'powerflex'\]|OPERATOR\(pg_catalog\.@>\) s\.started_at|s\.ended_at IS NOT NULL\)" "$src"/sql/*.sql |
      sed "s|^$src/||")
in_fns=$(python3 - "$src/sql/20_analytics.sql" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rx = re.compile(r"s\.kind OPERATOR\(pg_catalog\.=\) ANY \(ARRAY\['ocpi', 'powerflex'\]|OPERATOR\(pg_catalog\.@>\) s\.started_at|s\.ended_at IS NOT NULL\)")
fns = set()
for m in rx.finditer(text):
    fns.add(re.findall(r'CREATE FUNCTION sessions\.([a-z_]+)\(', text[:m.start()])[-1])
print(' '.join(sorted(fns)))
PY
)
is "$(awk -F: '{print $1}' <<<"$out" | sort -u):$in_fns" "sql/20_analytics.sql:report_sessions report_stats user_report_rows" \
   "the store filter of the reports is report_sessions' (and its Citus copies report_stats, user_report_rows) in src/sql"
fn=$(sed -n '/^CREATE FUNCTION sessions.report_sessions(/,/^END;/p' "$src/sql/20_analytics.sql" |
     grep -cE "s\.kind OPERATOR\(pg_catalog\.=\) ANY \(ARRAY\['ocpi', 'powerflex'\]|OPERATOR\(pg_catalog\.@>\) s\.started_at|s\.ended_at IS NOT NULL\)")
out=$(strip_comments "$src"/tools/*.c "$src"/tools/*.h |
      grep -nE "sessions\.store\b|'(ocpi|powerflex)'|ended_at IS NOT NULL|<@|@>")
is "$fn:$out" "3:" "that place is report_sessions; src/tools reads no store table and writes no filter of its own"
