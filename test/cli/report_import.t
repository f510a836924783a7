#!/usr/bin/env bash
# session-report import powerflex: both shapes, re-import, skipped rows and
# their reasons, streaming in batches inside one transaction, hostile files
# and the exit statuses.
. "$(dirname "$0")/tap.sh"
plan 34

DATA=$SA_SRC/test/cli/data
T=$SA_TEST_DIR/report_import
mkdir -p "$T"
fresh_db report_import 2>/dev/null
export PGDATABASE=report_import
count() { psql -X -At -c "SELECT count(*) FROM sessions.store WHERE kind = 'powerflex'"; }

out=$(session-report import powerflex "$DATA/powerflex_small.json" 2>"$T/err"); rc=$?
is "$rc" 0 "API response shape imports"
like "$out" "Imported .*powerflex_small.json: 41 rows, 41 new, 0 updated, 0 skipped" "summary line"
is "$(count)" 41 "41 sessions stored"
is "$(cat "$T/err")" "" "nothing on stderr (no progress off a terminal)"

out=$(session-report import powerflex "$DATA/powerflex_small.json"); rc=$?
like "$out" "41 rows, 0 new, 41 updated, 0 skipped" "re-import updates"
is "$(count)" 41 "re-import adds nothing"

out=$(session-report import powerflex "$DATA/powerflex_bad.json" --site Depot 2>"$T/err"); rc=$?
is "$rc" 0 "a file with malformed rows still imports the good ones"
like "$out" "12 rows, 3 new, 0 updated, 9 skipped" "bare list shape: counts"
like "$out" "sessions.import_rejects WHERE rejected_at = " "says where the reasons are kept"
err=$(cat "$T/err")
like "$err" "row 2 skipped: session_id is missing" "reason: no id"
like "$err" 'row 3 skipped: session_kwh is not a number: "abc" \(session_id: bad-kwh-text\)' "reason: non-numeric kWh"
like "$err" "row 4 skipped: session_kwh is negative: -2" "reason: negative kWh"
like "$err" "row 5 skipped: session_end_time is before session_start_time" "reason: end before start"
like "$err" 'row 6 skipped: session_start_time is not a valid time: "yesterday"' "reason: bad time"
like "$err" "row 7 skipped: row is not a JSON object" "reason: not an object"
is "$(psql -X -At -c "SELECT count(*) FROM sessions.import_rejects")" 9 "nine reasons queryable"
is "$(psql -X -At -c "SELECT doc->>'charger_model' FROM sessions.store WHERE external_id = 'ok-2'")" "PFX-40" "unknown fields kept"

json=$(session-report import powerflex - --format json <"$DATA/powerflex_bad.json" 2>/dev/null)
like "$json" '^\{"file": "-", "rows": 12, "imported": 0, "updated": 3, "skipped": 9, "rejected_at": ".*"\}$' "stdin and --format json"

# Hostile and broken files: one line on stderr, exit 7, nothing written.
before=$(count)
printf '{"rows": [{"session_id": "x"' >"$T/trunc.json"
printf '{"total_count": 3, "page": 1}' >"$T/norows.json"
python3 -c "print('[' + '[' * 5000 + ']' * 5000 + ']')" >"$T/deep.json"
# not UTF-8: the server rejects the batch's text (22021), an input error too
printf '{"rows": [{"session_id": "u\xff\xfe", "session_kwh": 1, "session_start_time": 1757235600000}]}' >"$T/badutf8.json"
python3 - "$T/late_error.json" <<'PY'
import json, sys
rows = [{"session_id": "late-%d" % i, "session_kwh": 1, "session_start_time": 1757623500000 + i} for i in range(4500)]
text = json.dumps(rows)
# broken JSON in the third batch, after two batches went to the server
text = text[:-1] + ', {"session_id": "z", "session_kwh": tru}]'
open(sys.argv[1], "w").write(text)
PY
for f in trunc norows deep badutf8 late_error; do
    session-report import powerflex "$T/$f.json" >/dev/null 2>"$T/$f.err"
    is "$?/$(wc -l <"$T/$f.err")" "7/1" "$f: exit 7 and one line"
done
like "$(cat "$T/late_error.err")" "rows 4001 to 4501: invalid input syntax for type json.*nothing imported" "invalid JSON named with its rows"
like "$(cat "$T/badutf8.err")" 'badutf8.json: rows 1 to 1: invalid byte sequence for encoding "UTF8": 0xff; nothing imported' "invalid UTF-8 named with its rows"
is "$(count)" "$before" "a broken file imports nothing, even after earlier batches"

# The server refuses the first batch while the client cuts the second (one
# batch in flight): that batch is named, and nothing is imported.
python3 - "$T/first_refused.bin" <<'PY'
import json, sys
rows = [json.dumps({"session_id": "fr-%d" % i, "session_kwh": 1, "session_start_time": 1757623500000 + i}) for i in range(4500)]
rows[10] = '{"session_id": "fr-\xff", "session_kwh": 1, "session_start_time": 1757623500000}'
open(sys.argv[1], "wb").write(("[" + ",".join(rows) + "]").encode("latin-1"))
PY
session-report import powerflex "$T/first_refused.bin" >/dev/null 2>"$T/first_refused.err"
is "$?/$(wc -l <"$T/first_refused.err")" "7/1" "a refused first batch, the next one cut: exit 7 and one line"
like "$(cat "$T/first_refused.err")" 'rows 1 to 2000: invalid byte sequence for encoding "UTF8": 0xff; nothing imported' \
     "the refused batch is the one named"
is "$(count)" "$before" "a refused first batch: nothing imported"

session-report import powerflex "$T/does-not-exist.json" 2>/dev/null; is "$?" 5 "missing file: exit 5"
session-report import csv "$T/x" 2>/dev/null; is "$?" 2 "unknown import format: exit 2"

# A larger export streams through in batches.
python3 - "$T/big.json" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write('{"total_count": 20000, "rows": [\n')
    for i in range(20000):
        f.write(("," if i else "") + json.dumps({"session_id": "big-%06d" % i, "session_kwh": (i % 10) * 0.3,
                 "session_start_time": 1757000000000 + i * 60000, "session_end_time": 1757000000000 + i * 60000 + 1800000,
                 "status": "FINISHED", "user": "u%d@example.com" % (i % 300), "site": "Site %d" % (i % 3)}) + "\n")
    f.write('], "page": 1, "limit": 20000}\n')
PY
start=$(date +%s%N)
out=$(session-report import powerflex "$T/big.json")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
like "$out" "20000 rows, 20000 new, 0 updated, 0 skipped" "20,000 rows in batches"
echo "# 20000 rows, $(du -h "$T/big.json" | cut -f1) in ${ms} ms"
is "$(count)" "$((before + 20000))" "all stored"
tty_out=$(script -qec "session-report import powerflex $T/big.json" /dev/null)
like "$tty_out" "importing .*big.json: [0-9.]+ / [0-9.]+ MB \([0-9]+%\), [0-9]+ rows" "progress on a terminal"
psql -X -q -d postgres -c "DROP DATABASE report_import WITH (FORCE)"
