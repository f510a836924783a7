#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, when
# they are missing. Runs apt-get as root, or through sudo for other users.
set -euo pipefail
. "$(dirname "$0")/deps-lib.sh"

PG_MAJOR=${PG_MAJOR:-15}
deps_install deps make gcc "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" \
    "postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl \
    libpq-dev postgresql-contrib python3-psycopg2 libxml2-utils \
    "postgresql-$PG_MAJOR-cron" prometheus-postgres-exporter curl unzip git \
    librsvg2-bin
