#!/usr/bin/env bash
# The SESHIS-style report of the last 30 days, with the daily chart.
set -euo pipefail
chart=${SA_DEMO_DIR:-.demo}/sessions-daily.svg

echo
echo "== session-report --empty --micro --user --graph (last 30 days; the per-user part shows the top 5 of the users)"
echo "\$ session-report --empty --micro --user --graph $chart --range last_month --limit 5 --no-color"
session-report --empty --micro --user --graph "$chart" --range last_month --limit 5 --no-color
echo
echo "(--limit 5 keeps the per-user part short: drop it for every user, or page with --page N)"
echo "Chart: $chart (open it in a browser)"
