#!/usr/bin/env bash
# The Debian packages the packaging test (test/package/run.sh) needs beyond
# tools/deps.sh: debian/control's Build-Depends, dpkg-buildpackage, lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pkg in build-essential dpkg-dev fakeroot debhelper postgresql-server-dev-all postgresql-common libpq-dev lintian help2man; do
    have "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "deps-packaging: installing ${need[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps-packaging: need root or sudo to install: ${need[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
