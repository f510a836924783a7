#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, when
# they are missing. Runs apt-get as root, or through sudo for other users.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

for pkg in make gcc "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" \
           "postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl \
           libpq-dev postgresql-contrib python3-psycopg2 libxml2-utils \
           "postgresql-$PG_MAJOR-cron" prometheus-postgres-exporter curl unzip git; do
    have "$pkg" || need+=("$pkg")
done

[ ${#need[@]} -eq 0 ] && exit 0

echo "deps: installing ${need[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
