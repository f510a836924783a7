#!/usr/bin/env bash
# Sites and their time zones in session-report (issue 12): the zone of the
# days is --tz, then PGTZ, then TZ, then the sites' zone (sessions.site),
# then UTC; one zone rule everywhere (abbreviations too, checked by the
# server); several --site names, any case, a miss lists the known sites.
. "$(dirname "$0")/tap.sh"
plan 28

T=$SA_TEST_DIR/report_sites
mkdir -p "$T"
fresh_db report_sites 2>/dev/null
export PGDATABASE=report_sites
unset TZ PGTZ
session-report import powerflex "$SA_SRC/test/cli/data/powerflex_small.json" >/dev/null
RANGE=(--from 2025-09-07 --to 2025-09-11)
daily() { grep -E '^(📊|- 2025)' ; }

# The import records each site, without a zone (the export carries none).
is "$(psql -X -At -c "SELECT string_agg(namespace || ':' || coalesce(time_zone, '-') || ':' || display_name, ' ' ORDER BY 1) FROM sessions.site")" \
   "Airport P2:-:Airport P2 Downtown Charging Hub:-:Downtown Charging Hub" "the import records both sites, display name only"

utc=$(session-report --empty "${RANGE[@]}" --tz UTC | daily)
la=$(session-report --empty "${RANGE[@]}" --tz America/Los_Angeles | daily)
[ "$utc" != "$la" ]; ok $? "the data set has different UTC and California days"
is "$(session-report --empty "${RANGE[@]}" | daily)" "$utc" "no zone anywhere: UTC days"

# The Californian's first try: TZ in the environment is read.
is "$(TZ=America/Los_Angeles session-report --empty "${RANGE[@]}" | daily)" "$la" "TZ=America/Los_Angeles gives local days"
is "$(TZ=:America/Los_Angeles session-report --empty "${RANGE[@]}" | daily)" "$la" "TZ=:America/Los_Angeles (glibc form)"
is "$(TZ=/usr/share/zoneinfo/America/Los_Angeles session-report --empty "${RANGE[@]}" | daily)" "$la" "TZ as a zoneinfo path"
is "$(PGTZ=America/Los_Angeles session-report --empty "${RANGE[@]}" | daily)" "$la" "PGTZ gives local days"
is "$(TZ=Asia/Tokyo PGTZ=America/Los_Angeles session-report --empty "${RANGE[@]}" | daily)" "$la" "PGTZ before TZ"
is "$(TZ=Asia/Tokyo session-report --empty "${RANGE[@]}" --tz UTC | daily)" "$utc" "--tz before TZ"
TZ=Mars/Olympus session-report --empty "${RANGE[@]}" >/dev/null 2>"$T/tz.err"
is "$?" 2 "a TZ PostgreSQL does not know: exit 2"
like "$(cat "$T/tz.err")" 'TZ "Mars/Olympus" is not a time zone PostgreSQL knows \(from the environment: unset it or pass --tz\)' \
     "the error names TZ and says what to do"

# One rule: --tz takes what the SQL functions take, abbreviations included.
pst=$(session-report --empty "${RANGE[@]}" --tz PST | daily)
is "$pst" "$(session-report --empty "${RANGE[@]}" --tz '<PST>+08' | daily)" "--tz PST is accepted: the fixed offset -08"
is "$(PGTZ=pst session-report --empty "${RANGE[@]}" | daily)" "$pst" "PGTZ=pst too (libpq would have sent it to TimeZone, which refuses it)"
session-report --format json --empty "${RANGE[@]}" --tz PST | python3 -c 'import json, sys; print(json.load(sys.stdin)["range"]["tz"])' >"$T/tz"
is "$(cat "$T/tz")" "PST" "the JSON report says which zone it used"

# The sites' zone: both sites in California, so the default is local days.
psql -X -q -c "SELECT sessions.set_site('Downtown Charging Hub', 'America/Los_Angeles')" \
     -c "SELECT sessions.set_site('Airport P2', 'America/Los_Angeles')" >/dev/null
is "$(session-report --empty "${RANGE[@]}" | daily)" "$la" "every site in America/Los_Angeles: local days by default"
is "$(session-report --empty "${RANGE[@]}" --tz UTC | daily)" "$utc" "--tz still overrides the sites' zone"
is "$(TZ=UTC session-report --empty "${RANGE[@]}" | daily)" "$utc" "TZ still overrides the sites' zone"
session-report --format json --empty "${RANGE[@]}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["range"]["tz"])' >"$T/tz"
is "$(cat "$T/tz")" "America/Los_Angeles" "JSON: the sites' zone is the one used"

# Sites of different zones: UTC days, and stderr says why and what to do.
psql -X -q -c "SELECT sessions.set_site('Airport P2', 'America/New_York')" >/dev/null
session-report --empty "${RANGE[@]}" >"$T/mixed.out" 2>"$T/mixed.err"
is "$(daily <"$T/mixed.out")" "$utc" "sites of different zones: UTC days"
like "$(cat "$T/mixed.err")" "do not share one time zone \(Airport P2 \(America/New_York\), Downtown Charging Hub \(America/Los_Angeles\)\): days are UTC days; pass --tz ZONE" \
     "the report says which zone it used and why"
is "$(session-report --empty "${RANGE[@]}" --site 'downtown charging hub' | daily)" \
   "$(session-report --empty "${RANGE[@]}" --site 'Downtown Charging Hub' --tz America/Los_Angeles | daily)" \
   "one site, named in another case: that site's zone"

# --site: several (repeated or comma-separated), any case; a miss lists the sites.
both=$(session-report --empty "${RANGE[@]}" --tz UTC | daily)
is "$(session-report --empty "${RANGE[@]}" --tz UTC --site 'AIRPORT P2' --site 'downtown charging hub' | daily)" "$both" "--site repeated"
is "$(session-report --empty "${RANGE[@]}" --tz UTC --site 'airport p2, Downtown Charging Hub' | daily)" "$both" "--site A,B"
session-report --empty "${RANGE[@]}" --site 'Airport P2,Uptown' >/dev/null 2>"$T/miss.err"
is "$?/$(cat "$T/miss.err")" '5/session-report: no site named "Uptown"; the sites you can see: Airport P2, Downtown Charging Hub' \
   "an unknown site: exit 5, the sites there are"
psql -X -q -c "DROP ROLE IF EXISTS sites_reader" -c "CREATE ROLE sites_reader LOGIN IN ROLE session_analytics_reader" \
     -c "INSERT INTO sessions.role_namespace VALUES ('sites_reader', 'Airport P2')" >/dev/null
session-report -d "dbname=report_sites user=sites_reader" --empty "${RANGE[@]}" --site Uptown >/dev/null 2>"$T/miss.err"
like "$(cat "$T/miss.err")" 'no site named "Uptown"; the sites you can see: Airport P2$' "the list holds only the sites the role can see"
is "$(session-report -d "dbname=report_sites user=sites_reader" --empty "${RANGE[@]}" | daily)" \
   "$(session-report --empty "${RANGE[@]}" --site 'Airport P2' --tz America/New_York | daily)" \
   "a tenant's report takes its own site's zone, whatever other sites have"
session-report import powerflex "$SA_SRC/test/cli/data/powerflex_small.json" --site A --site B >/dev/null 2>&1
is "$?" 2 "import takes one --site"
session-report import powerflex "$SA_SRC/test/cli/data/powerflex_small.json" --site 'Depot, north' >/dev/null
is "$(psql -X -At -c "SELECT count(*) FROM sessions.store WHERE namespace = 'Depot, north'")/$(psql -X -At -c "SELECT display_name FROM sessions.site WHERE namespace = 'Depot, north'")" \
   "41/Depot, north" "import --site keeps a name with a comma whole, and records the site"

psql -X -q -d postgres -c "DROP DATABASE report_sites WITH (FORCE)" -c "DROP ROLE sites_reader"
