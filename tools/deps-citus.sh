#!/usr/bin/env bash
# Installs Citus (the distributed engine make test-citus runs on) into the
# PostgreSQL named by PG_CONFIG when its citus.so is missing, by building the
# source kept in ../shared/citus/ beside the repository (build-citus.sh there;
# needs root for its apt-get). Nothing to do when Citus is installed.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-pg_config}
[ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] && exit 0
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/../shared/citus/build-citus.sh
[ -x "$build" ] || [ -f "$build" ] || { echo "deps-citus: citus.so missing and no $build" >&2; exit 1; }
echo "deps-citus: building Citus from $(dirname "$build")" >&2
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps-citus: need root or sudo" >&2; exit 1; }
    sudo env PG_CONFIG="$PG_CONFIG" bash "$build"
else
    PG_CONFIG="$PG_CONFIG" bash "$build"
fi
