# shellcheck shell=bash
# Minimal TAP for the bash tests in test/cli/*.t. Source it, call plan N,
# then ok / is / like / unlike; each prints one TAP line.
# make test exports PGHOST/PGPORT/PGUSER (the throwaway cluster), PATH with
# the staged tools first, SA_SRC (the source tree) and SA_TEST_DIR (scratch).
set -u
_tap_n=0
plan() { echo "1..$1"; }
_tap() { _tap_n=$((_tap_n + 1)); if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; fi; }
# ok CONDITION_STATUS NAME  (use: ok $? "name" after a command, or cmd; ok $? ...)
ok() { _tap "$1" "$2"; }
# is GOT WANT NAME
is() {
    if [ "$1" = "$2" ]; then _tap 0 "$3"; else
        _tap 1 "$3"; printf '#   got:  %s\n#   want: %s\n' "$1" "$2" | head -40; fi
}
# like GOT REGEX NAME
like() {
    if grep -qE -- "$2" <<<"$1"; then _tap 0 "$3"; else
        _tap 1 "$3"; printf '#   got:  %s\n#   want match: %s\n' "$1" "$2" | head -40; fi
}
unlike() {
    if grep -qE -- "$2" <<<"$1"; then
        _tap 1 "$3"; printf '#   got:  %s\n#   want no match: %s\n' "$1" "$2" | head -40; else _tap 0 "$3"; fi
}
# fresh_db NAME: a new database with the extension installed.
fresh_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null &&
    psql -X -q -d "$1" -c "CREATE EXTENSION session_analytics" >/dev/null
}
