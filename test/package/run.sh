#!/usr/bin/env bash
# The Debian packaging test (slow, ~1-2 min; run by .ci/run after make test):
# installs the build dependencies, then runs test/package/debian.t with prove.
# Needs root (it installs the .debs system-wide and removes them afterwards).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/deps-packaging.sh
prove -v test/package/debian.t
