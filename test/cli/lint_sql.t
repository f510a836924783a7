#!/usr/bin/env bash
# Every function call in the install script is schema-qualified
# (tools/lint_sql.py): first the lint itself on known input, then one test
# per file of src/sql/ and per upgrade script (src/session_analytics--A--B.sql,
# which runs as the superuser updating the extension), listing what it finds.
. "$SA_SRC/test/cli/tap.sh"
files=("$SA_SRC"/src/sql/*.sql "$SA_SRC"/src/session_analytics--*--*.sql)
plan $((${#files[@]} + 3))
lint=$SA_SRC/tools/lint_sql.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/bad.sql" <<'SQL'
CREATE FUNCTION sessions.f(a text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    -- concat_ws(a) in a comment is fine, so is 'now()' in a string
    RETURN concat_ws('|', a, pg_catalog.upper(a)) || format('%s', a);
END
$$;
CREATE FUNCTION sessions.g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM store; END;
SQL
out=$(python3 "$lint" "$tmp/bad.sql")
rc=$?
is "$rc:$(grep -c '^  ' <<<"$out")" "1:3" "the lint fails and lists each unqualified call"
like "$out" "bad.sql:4: concat_ws\(.*" "it names the line and the function"

cat >"$tmp/good.sql" <<'SQL'
CREATE TABLE sessions.t (id int PRIMARY KEY CHECK (id > 0), v numeric(10, 2), d timestamp(3));
CREATE FUNCTION sessions.h(x jsonb) RETURNS TABLE (k text, n bigint) LANGUAGE plpgsql AS $f$
BEGIN
    RETURN QUERY WITH RECURSIVE down(k) AS (SELECT 'a'::text UNION SELECT down.k FROM down)
    SELECT e.k, pg_catalog.count(*) FILTER (WHERE e.k IN ('a')) OVER (PARTITION BY e.k)
      FROM pg_catalog.jsonb_each_text(x) AS e(k, v)
     WHERE EXISTS (SELECT 1) AND e.k = ANY (ARRAY['a']) AND COALESCE(NULLIF(e.k, ''), GREATEST('a', 'b')) IS NOT NULL
       AND EXTRACT(epoch FROM pg_catalog.now()) > 0 AND e.k::text IS NOT NULL
     ORDER BY CAST(e.k AS text);
    PERFORM (SELECT 1);
    RAISE EXCEPTION USING DETAIL = pg_catalog.format('x'), ERRCODE = '22023';
END
$f$;
SQL
out=$(python3 "$lint" "$tmp/good.sql")
ok $? "SQL syntax (keywords, type modifiers, CTE and alias column lists) is not flagged"
[ -n "$out" ] && grep '^  ' <<<"$out" | sed 's/^ */# /'

for f in "${files[@]}"; do
    out=$(python3 "$lint" "$f")
    ok $? "no unqualified calls in ${f#"$SA_SRC"/}"
    grep '^  ' <<<"$out" | sed 's/^ */# /' | head -60
done
