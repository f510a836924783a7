#!/usr/bin/env bash
# session-report on a fixed dataset: golden text, JSON and CSV outputs, the
# chart, --anonymize, colour, and the exit status of each error class.
# SA_UPDATE_GOLDEN=1 rewrites the expected files (review the diff!).
. "$(dirname "$0")/tap.sh"
plan 84

DATA=$SA_SRC/test/cli/data
EXP=$SA_SRC/test/cli/expected
T=$SA_TEST_DIR/report_output
mkdir -p "$T"
fresh_db report_output 2>/dev/null
export PGDATABASE=report_output
session-report import powerflex "$DATA/powerflex_small.json" >/dev/null
RANGE=(--from 2025-09-07 --to 2025-09-11)

# golden NAME ARGS...: stdout of session-report ARGS equals expected/NAME.
golden() {
    local name=$1; shift
    session-report "$@" >"$T/$name" 2>"$T/$name.err"
    local rc=$?
    [ -n "${SA_UPDATE_GOLDEN:-}" ] && cp "$T/$name" "$EXP/$name"
    if [ "$rc" = 0 ] && diff -u "$EXP/$name" "$T/$name" >"$T/$name.diff"; then
        ok 0 "golden $name"
    else
        ok 1 "golden $name (exit $rc)"; head -40 "$T/$name.diff" | sed 's/^/# /'; head -5 "$T/$name.err" | sed 's/^/# /'
    fi
}

golden report_empty_micro.txt --empty --micro "${RANGE[@]}"
golden report_user.txt --user "${RANGE[@]}" --site "Downtown Charging Hub"
golden report_full.json --empty --micro --user "${RANGE[@]}" --format json
golden report_full.csv --empty --micro --user "${RANGE[@]}" --format csv
golden report_raw.json "${RANGE[@]}" --sort session_kwh --order asc --limit 5
golden report_raw.csv "${RANGE[@]}" --format csv --sort session_id --order asc --limit 4 --page 2
golden report_printsessions.json --micro 0.5 --printsessions "${RANGE[@]}"
# The text report of that run went to stderr, whole, where the user sees it.
is "$(cat "$T/report_printsessions.json.err")" "$(cat "$EXP/report_printsessions.txt")" "--printsessions > file: the text report on stderr"
python3 -m json.tool "$T/report_printsessions.json" >/dev/null; ok $? "--printsessions > file.json: stdout is one JSON document"
session-report --empty --micro --printsessions "${RANGE[@]}" 2>/dev/null |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(sorted(d), d["empty_sessions"]["total"], len(d["micro_sessions"]["sessions"]))' >"$T/ps2"
is "$(cat "$T/ps2")" "['empty_sessions', 'micro_sessions'] 20 4" "--empty --micro --printsessions | json: both lists"
tty_out=$(script -qec "session-report --no-color --micro 0.5 --printsessions ${RANGE[*]}" /dev/null)
like "$tty_out" "Micro sessions \(3 of 3, --limit/--page for more\):" "on a terminal report and listing stay together"

# One rounding rule per format: every percentage with one decimal, the
# summary's and the daily rows' alike, in JSON as in CSV (as the text report).
python3 - "$T/report_full.json" "$T/report_full.csv" >"$T/pcts" <<'PY'
import csv, json, re, sys
d = json.load(open(sys.argv[1]))
vals = [v for row in [d["summary"]] + d["daily"] for k, v in row.items() if k.endswith("_pct")]
head = None
for row in csv.reader(open(sys.argv[2])):
    if not row:
        head = None
    elif head is None:
        head = row
    else:
        vals += [v for k, v in zip(head, row) if k.endswith("_pct") and v != ""]
bad = [v for v in vals if not re.fullmatch(r"-?[0-9]+\.[0-9]", str(v))]
print(len(vals), bad)
PY
like "$(cat "$T/pcts")" "^[0-9]+ \[\]$" "JSON and CSV percentages: one decimal in summary and daily rows"

# Raw output: each document holds the exported row's keys and values (as
# JSON values; numbers keep their digits), in the stored (jsonb) key order
# that docs/session-report.md describes: shorter keys first.
python3 - "$T/report_raw.json" "$DATA/powerflex_small.json" >"$T/raw_check" <<'PY'
import json, sys
from decimal import Decimal
out = json.load(open(sys.argv[1]), parse_float=Decimal)
rows = {r["session_id"]: r for r in json.load(open(sys.argv[2]), parse_float=Decimal)["rows"]}
same = all(d == rows[d["session_id"]] for d in out)
order = all(list(d) == sorted(d, key=lambda k: (len(k.encode()), k.encode())) for d in out)
print(len(out), same, order)
PY
is "$(cat "$T/raw_check")" "5 True True" "raw JSON: the exported values, keys in jsonb order as documented"

for f in report_full.json report_raw.json; do
    python3 -m json.tool "$T/$f" >/dev/null; ok $? "$f is valid JSON"
done
session-report --empty --micro .5 --format json "${RANGE[@]}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["micro_threshold"])' >"$T/thr"
is "$(cat "$T/thr")" "0.5" "--micro .5 gives valid JSON"

# No --micro value, no --volts: the server's settings apply (one source, the
# GUC definitions), and the output prints the value the server used.
help=$(session-report --help | tr -s ' \n' ' ')
like "$help" "--micro \[KWH\] .*\(default: the server's session_analytics.micro_threshold, 1.0 unless configured\)" \
     "--help: --micro defaults to the server's setting"
like "$help" "--volts V .*\(default: the server's session_analytics.volts, 208 unless configured\)" \
     "--help: --volts defaults to the server's setting"
is "$(PGOPTIONS='-c session_analytics.micro_threshold=0.5' session-report --empty --micro --format json "${RANGE[@]}" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["micro_threshold"])')" "0.5" \
   "--micro without a value: the server's micro_threshold (SET by PGOPTIONS), printed"
PGOPTIONS='-c session_analytics.micro_threshold=0.5' session-report --micro --printsessions "${RANGE[@]}" >"$T/srv_micro.json" 2>"$T/srv_micro.txt"
diff -u "$EXP/report_printsessions.txt" "$T/srv_micro.txt" >"$T/srv_micro.diff" &&
    diff -u "$EXP/report_printsessions.json" "$T/srv_micro.json" >>"$T/srv_micro.diff"
ok $? "the server's threshold 0.5 gives the figures and listing of --micro 0.5"
PGOPTIONS='-c session_analytics.micro_threshold=0.5' session-report --empty --micro --graph "$T/srv.svg" "${RANGE[@]}" >/dev/null
is "$(xmllint --xpath "string(//*[local-name()='text'][@class='title'])" "$T/srv.svg")" \
   "Empty and micro (< 0.5 kWh) sessions per day, all sites" "the chart's title shows the server's threshold"
psql -X -q -c "ALTER DATABASE report_output SET session_analytics.volts = 230"
session-report --user "${RANGE[@]}" --format json --debug >"$T/srv_volts.txt" 2>"$T/srv_volts.err"
session-report --user "${RANGE[@]}" --format json --volts 230 >"$T/volts230.txt"
session-report --user "${RANGE[@]}" --format json --volts 208 >"$T/volts208.txt"
psql -X -q -c "ALTER DATABASE report_output RESET session_analytics.volts"
cmp -s "$T/srv_volts.txt" "$T/volts230.txt"; ok $? "ALTER DATABASE SET volts = 230: --user computes the currents at 230 V"
! cmp -s "$T/volts230.txt" "$T/volts208.txt"; ok $? "... which differ from those at 208 V"
like "$(cat "$T/srv_volts.err")" "Analysis parameters: micro threshold 1 kWh, 230 V" "--debug prints the values the server gave"

# SESHIS's worked example, from --debug.
session-report --user JOHN.DOE@example.com --debug "${RANGE[@]}" >"$T/john.txt" 2>"$T/john.err"
is "$?" 0 "--user EMAIL (any case)"
like "$(cat "$T/john.txt")" "^User: john.doe@example.com$" "only that user"
like "$(cat "$T/john.txt")" "START: 2025-09-08 19:29:13 / END: 2025-09-09 00:21:03 / DURATION: 4.9h / 12.76309 kWh / 0101110102_2025-09-08..." "SESHIS's example session line"
like "$(cat "$T/john.err")" "Session 8 calculations: 4.86h, 2624.1W, 12.62A \(orange\)" "per-session calculations on stderr"
like "$(cat "$T/john.err")" "Session 8 calculations: .* \[user john.doe@example.com, session 0101110102_2025-09-08_[0-9a-z]+\]$" "each calculation names its user and session"
session-report --user --empty --debug "${RANGE[@]}" >/dev/null 2>"$T/dbg.err"
like "$(cat "$T/dbg.err")" "Starting empty user analysis \(" "--debug: the analyses, one space apart"
unlike "$(cat "$T/dbg.err")" "  analysis" "--debug: no double space before analysis"
like "$(cat "$T/john.err")" "SQL: .*sessions.user_report" "--debug shows the SQL"
like "$(cat "$T/john.err")" "Arguments parsed: \{'user': 'JOHN.DOE@example.com'" "--debug shows the arguments"

# Selection flags.
out=$(session-report --empty --micro "${RANGE[@]}" --site "Airport P2")
like "$out" "Site: Airport P2" "--site in the combined summary"
like "$out" "Total sessions analyzed: 19$" "--site narrows the figures"
out=$(session-report --empty "${RANGE[@]}" --include-active)
like "$out" "Total sessions returned: 40 \(filtered from 41\)" "--include-active counts the live session"
out=$(session-report --empty --from 2025-09-07 --to 2025-09-11 --tz America/Los_Angeles)
like "$out" "^- 2025-09-07: 3 empty / 8 total \(37.5%\)$" "--tz: local days (UTC has 6 that day)"
out=$(session-report --micro 5 "${RANGE[@]}")
like "$out" "Microsessions \(0 < kWh < 5.0\): " "--micro KWH threshold"
out=$(session-report --user --advanced --limit 2 --page 2 "${RANGE[@]}" 2>"$T/adv.err")
like "$(cat "$T/adv.err")" "--advanced: no prompts" "--advanced explains itself"
is "$(grep -c '^User: ' <<<"$out")" 2 "--limit/--page on users"

# The chart: well-formed SVG, one point per day.
session-report --empty --micro --graph "$T/chart.svg" "${RANGE[@]}" >"$T/chart.out"
like "$(cat "$T/chart.out")" "Chart of the daily empty and micro percentages written to $T/chart.svg" "says where the chart is"
xmllint --noout "$T/chart.svg"; ok $? "chart is well-formed XML"
is "$(xmllint --xpath "count(//*[local-name()='circle'][@class='empty'])" "$T/chart.svg")" 5 "one empty point per day"
is "$(xmllint --xpath "count(//*[local-name()='circle'][@class='micro'])" "$T/chart.svg")" 5 "one micro point per day"
is "$(xmllint --xpath "count(//*[local-name()='g'][@class='panel-empty' or @class='panel-micro'])" "$T/chart.svg")" 2 "two panels, each with its own scale"
# The file name picks the format: PNG rendered from the same SVG by librsvg.
rm -f "$T/chart.png"
session-report --empty --micro --graph "$T/chart.png" "${RANGE[@]}" >/dev/null 2>"$T/png.err"
is "$?/$(python3 -c 'import struct, sys; b = open(sys.argv[1], "rb").read(24); print(b[:8] == b"\x89PNG\r\n\x1a\n", struct.unpack(">II", b[16:24]))' "$T/chart.png" 2>&1)" \
   "0/True (960, 640)" "--graph chart.png: a PNG of the chart's size"
status_graph() { # NAME FILE: refused before any query, exit 2, one line, no file
    rm -f "$2"
    session-report --empty --graph "$2" "${RANGE[@]}" >/dev/null 2>"$T/g.err"
    is "$?/$(wc -l <"$T/g.err")/$(test -e "$2" && echo file || echo none)" "2/1/none" "$1: exit 2, one line, no file"
}
status_graph "--graph chart.pdf" "$T/chart.pdf"
status_graph "--graph without an extension" "$T/chart"
like "$(cat "$T/g.err")" "must end in .svg \(SVG\) or .png" "the refusal says which names work"
sr=$(command -v session-report)
rm -f "$T/norsvg.png"
PATH=/nonexistent "$sr" --empty --graph "$T/norsvg.png" "${RANGE[@]}" >/dev/null 2>"$T/norsvg.err"
is "$?/$(test -e "$T/norsvg.png" && echo file || echo none)" "1/none" "PNG without rsvg-convert: exit 1, no file"
like "$(cat "$T/norsvg.err")" "apt-get install librsvg2-bin" "... says what to install"
(cd "$T" && session-report --user --graph "${RANGE[@]}" >/dev/null); ok $? "--graph without a file"
test -s "$T/sessions-daily.svg"; ok $? "default file sessions-daily.svg"

# A long UTF-8 site name: the chart title holds it whole (a fixed title
# buffer used to cut a character in half: invalid byte sequence).
SITE="é$(printf '€%.0s' $(seq 1 200))"
psql -X -q -c "SELECT sessions.import_powerflex('[{\"session_id\": \"utf8-1\", \"session_kwh\": 0.5,
    \"session_start_time\": 1757235600000, \"session_end_time\": 1757239200000}]', '$SITE')" >/dev/null
session-report --empty --micro --graph "$T/utf8.svg" --site "$SITE" "${RANGE[@]}" >/dev/null 2>"$T/utf8.err"
ok $? "chart of a site named é + 200 × €"
is "$(xmllint --xpath "string(//*[local-name()='text'][@class='title'])" "$T/utf8.svg")" \
   "Empty and micro (< 1.0 kWh) sessions per day, $SITE" "the title holds the whole name"

# --anonymize never prints an email.
all=$( { session-report --anonymize --empty --micro --user --printsessions "${RANGE[@]}"
         session-report --anonymize --empty --micro --user --printsessions "${RANGE[@]}" --format json
         session-report --anonymize --user "${RANGE[@]}" --format csv
         session-report --anonymize "${RANGE[@]}" --limit 0
         session-report --anonymize "${RANGE[@]}" --format csv --limit 0; } 2>&1)
all+=$(session-report --anonymize --debug --user john.doe@example.com --printsessions --empty "${RANGE[@]}" 2>&1)
all+=$(session-report --anonymize --user nobody@example.com "${RANGE[@]}" 2>&1)
unlike "$all" "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\\." "--anonymize: no email anywhere, --debug and errors included"
like "$all" "User: user-[0-9a-f]{10}" "--anonymize: pseudonyms instead"
pseudo=$(grep -o 'user-[0-9a-f]\{10\}' <<<"$all" | head -1)
session-report --anonymize --user "$pseudo" "${RANGE[@]}" >/dev/null; ok $? "--user accepts a pseudonym"

# Colour by rating on a terminal only.
tty_out=$(script -qec "session-report --user john.doe@example.com ${RANGE[*]}" /dev/null)
like "$tty_out" $'\e\\[32m' "green on a terminal"
like "$tty_out" $'\e\\[38;5;208m' "orange on a terminal"
unlike "$(script -qec "session-report --no-color --user john.doe@example.com ${RANGE[*]}" /dev/null)" $'\e\\[' "--no-color"
unlike "$(session-report --user "${RANGE[@]}")" $'\e\\[' "no colour into a pipe"

# A reader may run every report; a writer may import; RLS decides the sites.
psql -X -q <<'SQL' 2>/dev/null
DROP ROLE IF EXISTS report_reader; DROP ROLE IF EXISTS report_writer;
CREATE ROLE report_reader LOGIN IN ROLE session_analytics_reader;
CREATE ROLE report_writer LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('report_reader', 'Airport P2'), ('report_writer', 'Depot');
SQL
out=$(session-report -d "dbname=report_output user=report_reader" --empty --micro --user --graph "$T/reader.svg" "${RANGE[@]}" 2>&1)
like "$out" "Total sessions analyzed: 19$" "a reader gets the report of the sites it may see"
out=$(session-report -d "dbname=report_output user=report_writer" import powerflex "$DATA/powerflex_bad.json" --site Depot 2>/dev/null)
like "$out" "12 rows, 3 new, 0 updated, 9 skipped" "a writer imports into its site"
session-report -d "dbname=report_output user=report_reader" import powerflex "$DATA/powerflex_bad.json" --site Depot >/dev/null 2>"$T/ro.err"
is "$?/$(grep -c 'permission denied' "$T/ro.err")" "1/1" "a reader may not import: exit 1, one line"

# Exit statuses: one line on stderr each.
status() { # WANT NAME ARGS...
    local want=$1 name=$2; shift 2
    "$@" >/dev/null 2>"$T/status.err"
    is "$?/$(wc -l <"$T/status.err")" "$want/1" "$name: exit $want, one line"
}
status 2 "unknown flag" session-report --bogus
status 2 "bad --micro" session-report --micro=abc
status 2 "--micro underflowing to 0" session-report --micro=1e-400
status 2 "--micro inf" session-report --micro=inf
status 2 "--micro hex" session-report --micro=0x10
status 2 "--limit overflowing a long" session-report --limit=99999999999999999999
status 2 "--limit beyond its range" session-report --limit=4294967297
status 2 "--limit with a sign" session-report --limit=+5
status 2 "--page 0" session-report --page=0
status 2 "--volts trailing text" session-report --volts=230V
status 2 "--volts too high" session-report --volts=1e7
session-report --page=0 2>&1 | grep -q 'invalid --page "0": expected a whole number from 1 to 1000000000'
ok $? "the error names the option and its range"
status 2 "bad --tz" session-report --empty --tz Mars/Olympus
status 2 "bad --from" session-report --empty --from 2025-02-30
status 3 "server unreachable" env PGHOST=/nonexistent session-report --empty
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS report_noext" -c "CREATE DATABASE report_noext" 2>/dev/null
status 4 "extension missing" session-report -d report_noext --empty
status 5 "unknown user" session-report --user nobody@example.com "${RANGE[@]}"
like "$(cat "$T/status.err")" "User 'nobody@example.com' not found.*run --user without an email" "SESHIS's hint"
status 6 "empty range" session-report --empty --from 2020-01-01 --to 2020-01-02
psql -X -q -d postgres -c "DROP DATABASE report_output WITH (FORCE)" -c "DROP DATABASE report_noext WITH (FORCE)" \
     -c "DROP ROLE report_reader" -c "DROP ROLE report_writer"
