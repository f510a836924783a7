#!/usr/bin/env python3
"""lint_sql.py: unqualified function calls in the install script's SQL.

Every name the install script and its function bodies use must be
schema-qualified (pg_catalog.xxx for built-ins, sessions.xxx for ours): an
unqualified call is resolved through search_path, and an object a user put
in an earlier schema, or a better-matching overload in one searched later,
would be called instead. This scans src/sql/*.sql (or the files given) with
comments and string literals removed and reports, per file, every
identifier followed by "(" that is not preceded by "." and is not SQL
syntax (keywords, type modifiers, CTE and alias column lists).

    tools/lint_sql.py [--summary] [FILE...]

Exit status 0 when nothing is found, 1 otherwise.
"""
import os
import re
import sys

# Words followed by "(" that are syntax, not function calls.
KEYWORDS = {
    # clauses and operators
    'all', 'and', 'any', 'array', 'as', 'atomic', 'begin', 'between', 'by', 'case', 'cast',
    'check', 'coalesce', 'collate', 'conflict', 'constraint', 'cube', 'declare', 'default',
    'delete', 'distinct', 'do', 'else', 'elsif', 'end', 'except', 'exception', 'exists',
    'extract', 'filter', 'for', 'foreach', 'from', 'greatest', 'group', 'having', 'if',
    'in', 'include', 'insert', 'intersect', 'into', 'is', 'join', 'key', 'lateral', 'least',
    'like', 'limit', 'loop', 'not', 'nullif', 'offset', 'on', 'operator', 'or', 'order',
    'over', 'partition', 'perform', 'primary', 'query', 'raise', 'recursive', 'references',
    'return', 'returning', 'returns', 'row', 'rows', 'select', 'set', 'similar', 'some',
    'table', 'then', 'union', 'unique', 'update', 'using', 'values', 'when', 'where',
    'while', 'window', 'with', 'within', 'strict', 'execute', 'foreign', 'grouping',
    'tablesample', 'variadic', 'only', 'elseif', 'next', 'get', 'diagnostics',
    # type names that take modifiers
    'bit', 'char', 'character', 'decimal', 'float', 'interval', 'numeric', 'time',
    'timestamp', 'timestamptz', 'timetz', 'varbit', 'varchar', 'varying', 'precision',
}
# After these words an identifier followed by "(" names a CTE, an alias with
# a column list or an index method, not a function.
ALIAS_BEFORE = {'as', 'with', 'recursive', 'using'}

IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_$]*')


def strip(sql):
    """The text with comments, string literals and quoted identifiers
    blanked (newlines kept, so line numbers stay right). Dollar-quoted text
    stays: it is a function body, i.e. code."""
    out = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith('--', i):
            j = sql.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
        elif sql.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r'[^\n]', ' ', sql[i:j]))
            i = j
        elif c == "'" or (c in 'eE' and sql.startswith("'", i + 1) and not (i and (sql[i - 1].isalnum() or sql[i - 1] == '_'))):
            j = i + (2 if c != "'" else 1)
            esc = c != "'"
            while j < n:
                if esc and sql[j] == '\\':
                    j += 2
                    continue
                if sql[j] == "'":
                    if sql.startswith("''", j):
                        j += 2
                        continue
                    j += 1
                    break
                j += 1
            out.append(re.sub(r'[^\n]', ' ', sql[i:j]))
            i = j
        elif c == '"':
            j = sql.find('"', i + 1)
            j = n if j < 0 else j + 1
            out.append('x' * (j - i - sql[i:j].count('\n')) if '\n' not in sql[i:j] else sql[i:j])
            i = j
        elif c == '$' and re.match(r'\$([A-Za-z_][A-Za-z0-9_]*)?\$', sql[i:]) and not (i and (sql[i - 1].isalnum() or sql[i - 1] == '_')):
            tag = re.match(r'\$([A-Za-z_][A-Za-z0-9_]*)?\$', sql[i:]).group(0)
            out.append(' ' * len(tag))
            i += len(tag)
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def findings(path):
    text = strip(open(path, encoding='utf-8').read())
    # psql meta-commands (\echo ... \quit) are not SQL.
    text = re.sub(r'(?m)^\\.*$', lambda m: ' ' * len(m.group(0)), text)
    found = []
    prev_word = None
    prev_end = -1
    for m in IDENT.finditer(text):
        word = m.group(0)
        low = word.lower()
        start, end = m.start(), m.end()
        before = text[:start].rstrip()
        after = text[end:].lstrip(' \t\r\n')
        if after.startswith('(') and not before.endswith('.') and low not in KEYWORDS \
                and not (prev_word in ALIAS_BEFORE and text[prev_end:start].strip() == '') \
                and not before.endswith('::') and not re.search(r'(?i)\b(function|procedure|aggregate|type|trigger|table|index|view|policy)\s*$', before):
            line = text.count('\n', 0, start) + 1
            found.append((line, word, start))
        prev_word, prev_end = low, end
    return found


def main(argv):
    summary = '--summary' in argv
    files = [a for a in argv if not a.startswith('--')]
    if not files:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src', 'sql')
        files = sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith('.sql'))
    bad = 0
    for f in files:
        got = findings(f)
        name = os.path.relpath(f)
        if got:
            bad += 1
            print('%s: %d unqualified call(s)' % (name, len(got)))
            if not summary:
                for line, word, _ in got:
                    print('  %s:%d: %s(' % (name, line, word))
        else:
            print('%s: ok' % name)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
