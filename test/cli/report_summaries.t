#!/usr/bin/env bash
# session-report and the live summaries (issue 13): the figures per site and
# day (summary, daily rows, chart, the combined summary's site line) come
# from the summaries when sessions.report_path says so and from the scan
# otherwise, with the same output; --debug and the JSON "figures" member say
# which path; --user and the listings always scan.
. "$(dirname "$0")/tap.sh"
plan 34

T=$SA_TEST_DIR/report_summaries
rm -rf "$T"; mkdir -p "$T"
fresh_db report_summaries 2>/dev/null
export PGDATABASE=report_summaries
unset TZ PGTZ PGOPTIONS
session-report import powerflex "$SA_SRC/test/cli/data/powerflex_small.json" >/dev/null
RANGE=(--from 2025-09-07 --to 2025-09-11)
SCAN='-c session_analytics.report_summaries=off'
q() { psql -X -q -At -c "$1"; }
# path ARGS...: the "figures" path of the JSON report of ARGS.
path() { session-report --format json "$@" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["figures"]["path"])'; }
# debug_path ARGS...: the --debug line naming the path of ARGS.
debug_path() { session-report --debug "$@" 2>&1 >/dev/null | grep -o 'Figures per site and day .* from [a-z ]*'; }

# same NAME ARGS...: the text report and the chart of ARGS from the summaries
# equal, byte for byte, those of the scan (report_summaries = off).
same() {
    local name=$1; shift
    session-report "$@" --graph "$T/$name.sum.svg" >"$T/$name.sum.txt" 2>"$T/$name.sum.err"
    PGOPTIONS=$SCAN session-report "$@" --graph "$T/$name.scan.svg" >"$T/$name.scan.txt" 2>"$T/$name.scan.err"
    sed -i -E "s#$T/$name\.(sum|scan)\.svg#CHART#" "$T/$name.sum.txt" "$T/$name.scan.txt"
    cmp -s "$T/$name.sum.txt" "$T/$name.scan.txt" && cmp -s "$T/$name.sum.svg" "$T/$name.scan.svg" &&
        test -s "$T/$name.sum.svg" && grep -q 'COMBINED SUMMARY' "$T/$name.sum.txt"
    ok $? "$name: text report and chart from the summaries equal the scan's, byte for byte"
}

# ---- the summary path applies: whole UTC days of sites without a zone -------
is "$(path --empty --micro "${RANGE[@]}")" summaries "whole days of the sites in their zone (UTC): the summaries"
is "$(PGOPTIONS=$SCAN path --empty --micro "${RANGE[@]}")" scan "report_summaries = off: the scan"
like "$(debug_path --empty --micro "${RANGE[@]}")" "from the live summaries" "--debug says the summaries"
like "$(PGOPTIONS=$SCAN debug_path --empty --micro "${RANGE[@]}")" "from a scan of the store" "--debug says the scan"
like "$(PGOPTIONS=$SCAN session-report --debug --empty "${RANGE[@]}" 2>&1 >/dev/null)" \
     "a scan of the store \(session_analytics.report_summaries is off\)" "... and why"
same all --empty --micro "${RANGE[@]}"
same site --empty --micro "${RANGE[@]}" --site 'Airport P2'
same active --empty --micro "${RANGE[@]}" --include-active
same day --empty --micro --from 2025-09-09 --to 2025-09-09

# JSON: every figure equal; kWh within summation-order noise (docs/summaries.md).
session-report --format json --empty --micro "${RANGE[@]}" >"$T/sum.json"
PGOPTIONS=$SCAN session-report --format json --empty --micro "${RANGE[@]}" >"$T/scan.json"
python3 - "$T/sum.json" "$T/scan.json" >"$T/json.cmp" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a.pop("figures")["path"] == "summaries" and b.pop("figures")["path"] == "scan"
def close(x, y, n):
    return abs(x - y) <= (n + 1) * 2.0 ** -52 * abs(y)
rows = [(a["summary"], b["summary"])] + list(zip(a["daily"], b["daily"]))
bad = [k for x, y in rows for k in y if k != "kwh" and x[k] != y[k]]
bad += ["kwh %s/%s" % (x["kwh"], y["kwh"]) for x, y in rows if not close(x["kwh"], y["kwh"], y["completed"])]
print(len(a["daily"]) == len(b["daily"]) == 5, sorted(a) == sorted(b), bad)
PY
is "$(cat "$T/json.cmp")" "True True []" "JSON: the same figures from both paths (kWh within summation-order noise)"

# configure_summaries(false): no summaries, the scan, the same report.
q "SELECT sessions.configure_summaries(false)" >/dev/null
is "$(path --empty --micro "${RANGE[@]}")" scan "summaries switched off: the scan"
like "$(session-report --format json --empty "${RANGE[@]}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["figures"]["reason"])')" \
     "switched off" "... and the reason says so"
session-report --empty --micro "${RANGE[@]}" --graph "$T/off.svg" >"$T/off.txt"
sed -i -E "s#$T/off\.svg#CHART#" "$T/off.txt"
cmp -s "$T/off.txt" "$T/all.sum.txt" && cmp -s "$T/off.svg" "$T/all.sum.svg"
ok $? "switched off: the same text report and chart as from the summaries"
q "SELECT sessions.configure_summaries()" >/dev/null
is "$(path --empty --micro "${RANGE[@]}")" summaries "switched on again: the summaries"

# ---- fallbacks: the scan, with the same figures as a scan ------------------
is "$(path --empty "${RANGE[@]}" --tz America/Los_Angeles)" scan "--tz another zone than the sites': the scan"
like "$(debug_path --empty "${RANGE[@]}" --tz America/Los_Angeles)" "from a scan of the store" "--debug says so"
like "$(session-report --debug --empty "${RANGE[@]}" --tz America/Los_Angeles 2>&1 >/dev/null)" \
     "summaries in another zone than America/Los_Angeles" "... and why"
is "$(path --empty --micro 0.5 "${RANGE[@]}")" scan "--micro 0.5, not the summarized threshold: the scan"
same micro05 --empty --micro 0.5 "${RANGE[@]}"
is "$(path --empty "${RANGE[@]}" --tz PST)" scan "--tz PST (a fixed offset, not the sites' zone): the scan"
# The sites' own zone: summaries rebuilt in it, local days from them.
q "SELECT sessions.set_site('Airport P2', 'America/Los_Angeles'), sessions.set_site('Downtown Charging Hub', 'America/Los_Angeles')" >/dev/null
is "$(path --empty "${RANGE[@]}")" summaries "both sites in America/Los_Angeles: their local days from the summaries"
same la --empty --micro "${RANGE[@]}"
is "$(path --empty "${RANGE[@]}" --tz UTC)" scan "--tz UTC, not the sites' zone: the scan"
q "SELECT sessions.set_site('Airport P2', 'America/New_York')" >/dev/null
is "$(path --empty "${RANGE[@]}")" scan "sites of different zones (UTC days): the scan"
is "$(path --empty "${RANGE[@]}" --site 'Airport P2')" summaries "one of them, in its zone: the summaries"
q "SELECT sessions.set_site('Airport P2', ''), sessions.set_site('Downtown Charging Hub', '')" >/dev/null
is "$(path --empty "${RANGE[@]}")" summaries "zones cleared: UTC days from the summaries again"

# ---- the chart and the site line really read the summaries -----------------
# A forged delta (the owner's) changes what the summaries say, not the store:
# a summary-path figure shows it, a scan does not.
q "INSERT INTO sessions.summary_delta VALUES ('Airport P2', 'powerflex', 'Forged', '2025-09-09', 'UTC', 0, 1, 1, 0, 0, 0, 0, 0, 0, 0)"
session-report --empty --micro "${RANGE[@]}" --graph "$T/forged.svg" >"$T/forged.txt"
like "$(cat "$T/forged.svg")" "2025-09-09: 63.6% empty \(7 of 11\)" "the chart reads the summaries (the forged session is in it)"
like "$(cat "$T/forged.txt")" "Site: Airport P2, Downtown Charging Hub, Forged$" "the combined summary's site line reads them too"
PGOPTIONS=$SCAN session-report --empty --micro "${RANGE[@]}" --graph "$T/forged.scan.svg" >/dev/null
like "$(cat "$T/forged.scan.svg")" "2025-09-09: 60.0% empty \(6 of 10\)" "the scan's chart does not"
# --site names are looked up in the summaries too (all time, no session read):
# the forged site is known there and unknown to the scan.
like "$(session-report --debug --empty "${RANGE[@]}" --site forged 2>&1 >/dev/null)" "Sites: Forged" \
     "--site forged resolves from the summaries (any case)"
PGOPTIONS=$SCAN session-report --empty "${RANGE[@]}" --site forged >/dev/null 2>"$T/forged.site.err"
is "$?:$(grep -c 'no site named "forged"' "$T/forged.site.err")" "5:1" "with report_summaries = off the look-up scans the store and finds no such site"
# --user and the listings are figures per session: always the scan.
session-report --user "${RANGE[@]}" --format json >"$T/users.sum.json"
PGOPTIONS=$SCAN session-report --user "${RANGE[@]}" --format json >"$T/users.scan.json"
cmp -s "$T/users.sum.json" "$T/users.scan.json"; ok $? "--user: the same (scanned) per-user figures on both settings"
like "$(session-report --empty --printsessions --limit 0 "${RANGE[@]}" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["empty_sessions"]["total"])')" "^20$" \
     "--printsessions: the listing and its total from the scan (the forged session is not in the store)"
q "SELECT sessions.rebuild_summaries()" >/dev/null
is "$(q "SELECT count(*) FROM sessions.check_summaries()")" 0 "rebuilt: the summaries equal the store again"

psql -X -q -d postgres -c "DROP DATABASE report_summaries WITH (FORCE)"
