#!/usr/bin/env bash
# Every function call in the install script is schema-qualified
# (tools/lint_sql.py): one test per file of src/sql/, listing what it finds.
. "$SA_SRC/test/cli/tap.sh"
files=("$SA_SRC"/src/sql/*.sql)
plan ${#files[@]}
for f in "${files[@]}"; do
    out=$(python3 "$SA_SRC/tools/lint_sql.py" "$f")
    ok $? "no unqualified calls in src/sql/$(basename "$f")"
    grep '^  ' <<<"$out" | sed 's/^ */# /' | head -60
done
