#!/usr/bin/env bash
# The log writer addresses sessions.event_log by position (Natts_event_log,
# Anum_event_log_* in src/events/event_log.h; the name/type table log_columns[] in
# src/events/event_log.c). This holds them to the catalog of an installed log (the
# column order of src/sql/60_events.sql): reordering, renaming, retyping or
# adding a column on one side only fails here. The build refuses a column
# table or a count that disagree with each other (static assertions).
. "$(dirname "$0")/tap.sh"
plan 6
cd "$SA_SRC/src" || exit 1
T=$SA_TEST_DIR/events_columns
rm -rf "$T"; mkdir -p "$T"
db=events_columns

fresh_db $db
catalog=$(psql -X -At -F' ' -d $db -c "
    SELECT a.attnum, a.attname, t.typname FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = 'sessions.event_log'::regclass AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum")
like "$catalog" "^1 seq int8" "the installed log's columns are read"

natts=$(sed -n 's/^#define[[:space:]]*Natts_event_log[[:space:]]*\([0-9]*\).*/\1/p' events/event_log.h)
is "$natts" "$(grep -c . <<<"$catalog")" "Natts_event_log is the log's column count"

# "N name" for each Anum_event_log_name N, in number order.
anums=$(sed -n 's/^#define[[:space:]]*Anum_event_log_\([a-z_0-9]*\)[[:space:]]*\([0-9]*\).*/\2 \1/p' events/event_log.h | sort -n)
is "$anums" "$(cut -d' ' -f1,2 <<<"$catalog")" "each Anum_event_log_ constant is its column's attnum (60_events.sql order)"

# log_columns[] entries: [Anum_event_log_x - 1] = {"name", TYPEOID}, as
# "attnum name type" with the type macro's name in lower case (INT8OID: int8).
table=$(sed -n 's/^[[:space:]]*\[Anum_event_log_\([a-z_0-9]*\) - 1\] = {"\([a-z_0-9]*\)", \([A-Z0-9]*\)OID},.*/\1 \2 \3/p' events/event_log.c |
        while read -r anum name type; do
            n=$(sed -n "s/^\([0-9]*\) $anum\$/\1/p" <<<"$anums")
            echo "${n:-?} $name $(tr 'A-Z' 'a-z' <<<"$type")"
        done | sort -n)
is "$table" "$catalog" "log_columns[] in events/event_log.c gives each column's name and type at its Anum_event_log_ position"

# Compile mutated copies: each must fail on the static assertion, and the
# unmutated copy must compile with the same command (so the failure is the
# assertion's).
inc=""
for c in ${PG_CONFIG:-} /usr/bin/pg_config pg_config; do
    d=$("$c" --includedir-server 2>/dev/null) && [ -f "$d/postgres.h" ] && { inc=$d; break; }
done
cc_check() {
    ${CC:-gcc} -fsyntax-only -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
        -I"$1" -I"$inc" "$1/events/event_log.c" 2>&1
}
for d in ok short count; do
    mkdir -p "$T/$d/events"; cp events/event_log.c events/event_log.h "$T/$d/events/"; cp session_analytics.h "$T/$d/"
done
sed -i '/\[Anum_event_log_horizon - 1\] = /d' "$T/short/events/event_log.c"
sed -i 's/^#define Natts_event_log\([[:space:]]*\)10/#define Natts_event_log\111/' "$T/count/events/event_log.h"
cc_check "$T/ok" >/dev/null && out=$(cc_check "$T/short")
like "$out" "log_columns must have one entry per column" "a column table shorter than Natts_event_log does not compile"
out=""
cc_check "$T/ok" >/dev/null && out=$(cc_check "$T/count")
like "$out" "log_columns must have one entry per column|the last Anum_event_log_ position" \
     "a Natts_event_log that no longer matches the positions does not compile"

psql -X -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
