#!/usr/bin/env bash
# META.json (PGXN meta-spec 1.0.0): the required keys are there and typed,
# its versions agree with the control file's default_version, each file it
# names exists; make dist builds NAME-VERSION.zip from git with every file
# under the one top directory NAME-VERSION/ and the same META.json inside.
. "$(dirname "$0")/tap.sh"
plan 12
cd "$SA_SRC" || exit 1
T=$SA_TEST_DIR/meta
rm -rf "$T"; mkdir -p "$T"

control_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" session_analytics.control)
# One line per check: "ok NAME" or "bad NAME: why".
python3 - "$control_version" >"$T/checks" <<'PY'
import json, os, re, sys
control = sys.argv[1]
m = json.load(open("META.json"))
def check(name, cond, why=""):
    print(("ok " if cond else "bad ") + name + ("" if cond else ": " + why))
required = {"name": str, "abstract": str, "description": str, "version": str, "maintainer": (str, list),
            "license": (str, list, dict), "provides": dict, "prereqs": dict, "resources": dict,
            "tags": list, "meta-spec": dict}
missing = [k for k, t in required.items() if not isinstance(m.get(k), t) or not m.get(k)]
check("required keys", not missing, "missing or empty: %s" % missing)
check("meta-spec 1.0.0", m.get("meta-spec", {}).get("version") == "1.0.0", str(m.get("meta-spec")))
semver = re.compile(r"^\d+\.\d+\.\d+$")
check("version is semver", semver.match(m.get("version", "")) is not None, m.get("version"))
check("version = control default_version", m.get("version") == control, "%s vs %s" % (m.get("version"), control))
p = m.get("provides", {}).get("session_analytics", {})
check("provides session_analytics at that version", p.get("version") == control, str(p))
bad = [n + ":" + k for n, e in m.get("provides", {}).items() for k in ("file", "docfile")
       if k in e and not os.path.isfile(e[k])]
check("every file provides names exists", not bad and "file" in p, str(bad))
pg = m.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL", "")
check("runtime prereq PostgreSQL 15", re.match(r"^>= 15\.0\.0\b", str(pg)) is not None, str(pg))
check("license postgresql, LICENSE present", m.get("license") == "postgresql" and os.path.isfile("LICENSE"), str(m.get("license")))
PY
while read -r status rest; do
    ok "$([ "$status" = ok ] && echo 0 || echo 1)" "META.json: $rest"
done <"$T/checks"

make -s --no-print-directory dist DIST="$T/dist.zip" >"$T/dist.log" 2>&1
ok $? "make dist builds a zip"
top=session_analytics-$control_version
names=$(unzip -Z1 "$T/dist.zip" 2>/dev/null)
is "$(grep -cv "^$top/" <<<"$names")" "0" "every entry is under $top/"
got=$(sed -n "s|^$top/||p" <<<"$names" | grep -vE '(/|^)$' | sort)
# Compared against what HEAD holds; run after committing.
committed=$(git ls-tree -r --name-only HEAD | grep -vE '^(\.ci/|\.gitattributes$|\.gitignore$)' | sort)
is "$(diff <(echo "$committed") <(echo "$got") | head -20)" "" "the zip holds exactly the committed tree (no .ci, no .git)"
unzip -p "$T/dist.zip" "$top/META.json" >"$T/META.json" 2>/dev/null
ok "$(python3 -c "import json,sys; sys.exit(0 if json.load(open('$T/META.json'))['version'] == '$control_version' else 1)" 2>/dev/null; echo $?)" \
   "the zip's META.json names version $control_version"
