#!/usr/bin/env bash
# The Debian packages, end to end, as a packager and a user would: in a copy
# of this tree, dpkg-buildpackage -us -uc -b builds
# postgresql-15-session-analytics and session-analytics-tools with
# pg_buildext; lintian reports no error; apt-get install ./….deb installs
# them; a cluster made with pg_createcluster (port 5499, its own socket
# directory, the library preloaded) creates the extension, the packaged tools
# talk to it, and make installcheck passes against it. At the end the cluster
# is dropped and the packages purged; files a `make install` had put in the
# system's PostgreSQL (make demo does one) are put back as they were.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/test/cli/tap.sh"
plan 19

[ "$(id -u)" -eq 0 ] || { echo "Bail out! needs root (installs packages)"; exit 1; }
PGV=15
PORT=${SA_PKG_PORT:-5499}
CLUSTER=sa_pkgtest
PGCONF=/usr/lib/postgresql/$PGV/bin/pg_config
W=$(mktemp -d /tmp/sa-package.XXXXXX)
chmod 755 "$W"
EXT_FILES=("$($PGCONF --pkglibdir)/session_analytics.so" "$($PGCONF --sharedir)"/extension/session_analytics*)
PKGS=(postgresql-$PGV-session-analytics session-analytics-tools)

cleanup() {
    pg_dropcluster --stop "$PGV" "$CLUSTER" >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${PKGS[@]}" >/dev/null 2>&1
    # What make install had put there before, back in place.
    [ -d "$W/saved" ] && cp -a "$W/saved/." / 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
# The purge at the end would remove packages the machine's owner installed.
for p in "${PKGS[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        trap - EXIT; rm -rf "$W"
        echo "Bail out! $p is installed on this machine; remove it (apt-get remove $p) before this test"; exit 1
    fi
done
# A cluster of that name left over by an interrupted run.
pg_dropcluster --stop "$PGV" "$CLUSTER" >/dev/null 2>&1

# Files of an earlier make install are not owned by any package: dpkg would
# overwrite them and the purge remove them, so keep a copy.
for f in "${EXT_FILES[@]}"; do
    if [ -e "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1; then
        mkdir -p "$W/saved$(dirname "$f")" && cp -a "$f" "$W/saved$f"
    fi
done

# --- build ------------------------------------------------------------------
mkdir -p "$W/build/src"
(cd "$SRC" && git ls-files -co --exclude-standard | tar -c -T -) | tar -x -C "$W/build/src"
(cd "$W/build/src" && dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1
rc=$?; ok $rc "dpkg-buildpackage -us -uc -b builds"
[ $rc -eq 0 ] || tail -40 "$W/build.log" | sed 's/^/# /'
version=$(cd "$SRC" && dpkg-parsechangelog -S Version)
extversion=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/session_analytics.control")
deb_ext=$W/build/postgresql-${PGV}-session-analytics_${version}_$(dpkg --print-architecture).deb
deb_tools=$W/build/session-analytics-tools_${version}_$(dpkg --print-architecture).deb
ok "$([ -f "$deb_ext" ] && [ -f "$deb_tools" ]; echo $?)" "postgresql-$PGV-session-analytics and session-analytics-tools $version built"
is "${version%-*}" "$extversion" "debian/changelog's upstream version is the control file's default_version"
is "$(dpkg-deb -c "$deb_ext" | awk '{print $6}' | grep -cE '^\./usr/(lib/postgresql/'$PGV'/lib/session_analytics\.so|share/postgresql/'$PGV'/extension/session_analytics\.control)$')" "2" \
   "the extension package holds the library and the control file in PostgreSQL $PGV's directories"
is "$(dpkg-deb -c "$deb_tools" | awk '{print $6}' | grep -E '^\./usr/(bin|local)/.' | grep -v '/$' | sort | tr '\n' ' ')" \
   "./usr/bin/session-listen ./usr/bin/session-report " "the tools package holds the two tools in /usr/bin"
is "$(dpkg-deb -c "$deb_tools" | awk '{print $6}' | grep -cE '^\./usr/share/man/man1/session-(report|listen)\.1\.gz$')" "2" \
   "and their manual pages"

lintian --fail-on error "$W/build/"*.changes >"$W/lintian.log" 2>&1
ok $? "lintian reports no error"
sed 's/^/# lintian: /' "$W/lintian.log" | grep -v 'running with root privileges'
unlike "$(cat "$W/lintian.log")" '^E: ' "no E: line"

# --- install ----------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb_ext" "$deb_tools" >"$W/install.log" 2>&1
rc=$?; ok $rc "apt-get install ./….deb"
[ $rc -eq 0 ] || tail -20 "$W/install.log" | sed 's/^/# /'
is "$(dpkg-query -W -f='${Status} ${Version}\n' "${PKGS[@]}" | sort -u)" "install ok installed $version" "both packages installed at $version"

# --- a cluster made with Debian's tools ---------------------------------------
SOCK=$W/sock
mkdir -p "$SOCK" && chown postgres "$SOCK"
pg_createcluster "$PGV" "$CLUSTER" -p "$PORT" -s "$SOCK" --start-conf=manual \
    -o "listen_addresses=" -o "shared_preload_libraries=session_analytics" \
    -o "session_analytics.expiry_interval=1" -- --auth-local=trust >"$W/cluster.log" 2>&1 &&
    pg_ctlcluster "$PGV" "$CLUSTER" start >>"$W/cluster.log" 2>&1
rc=$?; ok $rc "pg_createcluster $PGV $CLUSTER on port $PORT, started with the library preloaded"
[ $rc -eq 0 ] || sed 's/^/# /' "$W/cluster.log"
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
q() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
is "$(q -q -c "CREATE EXTENSION session_analytics" -c "SELECT extversion FROM pg_extension WHERE extname = 'session_analytics'" 2>&1)" \
   "$extversion" "CREATE EXTENSION from the package, at the control file's version"
tkey=$(q -c "SELECT sessions.create_session('PkgSource', valid_until => now() + interval '1 second')")
for _ in $(seq 1 40); do [ "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$tkey'")" = EXPIRED ] && break; sleep 0.25; done
is "$(q -c "SELECT status FROM sessions.store WHERE session_key = '$tkey'")" "EXPIRED" "the packaged library's expiry worker runs (preloaded)"
q -c "SELECT sessions.ocpi_put('NL', 'TNM', '101', '{\"country_code\": \"NL\", \"party_id\": \"TNM\", \"id\": \"101\", \"start_date_time\": \"2024-05-01T10:00:00Z\", \"end_date_time\": \"2024-05-01T11:00:00Z\", \"kwh\": 7.5, \"cdr_token\": {\"country_code\": \"NL\", \"party_id\": \"TST\", \"uid\": \"123abc\", \"type\": \"RFID\", \"contract_id\": \"NL-TST-C12345678-S\"}, \"auth_method\": \"WHITELIST\", \"location_id\": \"LOC1\", \"evse_uid\": \"3256\", \"connector_id\": \"1\", \"currency\": \"EUR\", \"status\": \"COMPLETED\", \"last_updated\": \"2024-05-01T11:00:00Z\"}')" >/dev/null
like "$(/usr/bin/session-report --format csv --from 2024-05-01 --to 2024-05-02 --tz UTC 2>&1)" '101' "the packaged session-report reads the store"
like "$(/usr/bin/session-report --version)" "^session-report \(session_analytics\) $extversion\$" "session-report names the extension's version"

# --- make installcheck against it, from the source tree --------------------------
rm -rf "$W/check" && mkdir -p "$W/check" && (cd "$SRC" && git ls-files -co --exclude-standard | tar -c -T -) | tar -x -C "$W/check"
(cd "$W/check" && make -s installcheck PG_CONFIG="$PGCONF") >"$W/installcheck.log" 2>&1
rc=$?; ok $rc "make installcheck passes against the packaged extension"
[ $rc -eq 0 ] && grep -E 'tests passed' "$W/installcheck.log" | sed 's/^/# /'
[ -f "$W/check/regression.diffs" ] && head -c 5000 "$W/check/regression.diffs" | sed 's/^/# /'
is "$(grep -cE '\.\.\. ok' "$W/installcheck.log")" "$(ls "$SRC"/sql/*.sql "$SRC"/specs/*.spec | wc -l)" "every pg_regress suite and isolation spec ran"

# The autopkgtest (debian/tests): the same suites in pg_virtualenv's cluster.
rm -rf "$W/auto" && mkdir -p "$W/auto" && (cd "$SRC" && git ls-files -co --exclude-standard | tar -c -T -) | tar -x -C "$W/auto"
chmod -R a+rwX "$W/auto"
(cd "$W/auto" && env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE debian/tests/installcheck) >"$W/autopkgtest.log" 2>&1
rc=$?; grep -qE "All $(ls "$SRC"/sql/*.sql | wc -l) tests passed" "$W/autopkgtest.log" || rc=1
ok $rc "debian/tests/installcheck (pg_buildext installcheck in pg_virtualenv) passes"
[ $rc -eq 0 ] || tail -30 "$W/autopkgtest.log" | sed 's/^/# /'

pg_dropcluster --stop "$PGV" "$CLUSTER" >/dev/null 2>&1
ok "$(pg_lsclusters -h | awk -v c="$CLUSTER" '$2 == c' | grep -q .; [ $? -ne 0 ]; echo $?)" "the test cluster is dropped"
