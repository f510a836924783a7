#!/usr/bin/env bash
# The Debian packages the packaging test (test/package/run.sh) needs beyond
# tools/deps.sh: debian/control's Build-Depends, dpkg-buildpackage, lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps-lib.sh
tools/deps.sh
deps_install deps-packaging build-essential dpkg-dev fakeroot debhelper postgresql-server-dev-all \
    postgresql-common libpq-dev lintian help2man
