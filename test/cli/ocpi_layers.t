#!/usr/bin/env bash
# The OCPI layers (docs/architecture.md): validation never writes (no SPI, no
# store), the jsonb helpers know nothing of OCPI, every C symbol the SQL
# names is defined, and the compiler refuses a Session field table that no
# longer matches its enum or a statement parameter without a type.
. "$(dirname "$0")/tap.sh"
plan 6
cd "$SA_SRC/src" || exit 1
T=$SA_TEST_DIR/ocpi_layers
rm -rf "$T"; mkdir -p "$T"

out=$(grep -nE '#include "executor/spi.h"|\bSPI_[a-z]+\(' ocpi/ocpi_validate.c ocpi/ocpi_validate.h)
is "$out" "" "the validation layer includes no SPI and calls none"

out=$(grep -nE '#include "ocpi_store|"[^"]*sessions\.store' ocpi/ocpi_validate.c ocpi/ocpi_validate.h)
is "$out" "" "the validation layer knows nothing of the store"

out=$(grep -nE '#include "ocpi_' ocpi/jsonb_access.c ocpi/jsonb_access.h)
is "$out" "" "jsonb_access knows nothing of OCPI"

missing="" n=0
for sym in $(sed -n "s/.*AS 'MODULE_PATHNAME', '\(sa_ocpi_[a-z_]*\)'.*/\1/p" sql/10_ocpi.sql | sort -u); do
    n=$((n + 1))
    grep -q "^PG_FUNCTION_INFO_V1($sym);" ocpi/ocpi_validate.c ocpi/ocpi_store.c || missing="$missing $sym"
done
is "$n:$missing" "5:" "every OCPI symbol of src/sql/10_ocpi.sql (5) is defined in ocpi/ocpi_validate.c or ocpi/ocpi_store.c"

# Compile a mutated copy: it must fail on the static assertion, and the
# unmutated copy must compile with the same command (so the failure is the
# assertion's).
# The server headers of the build (the staged pg_config on PATH has none).
inc=""
for c in ${PG_CONFIG:-} /usr/bin/pg_config pg_config; do
    d=$("$c" --includedir-server 2>/dev/null) && [ -f "$d/postgres.h" ] && { inc=$d; break; }
done
cc_check() {
    ${CC:-gcc} -fsyntax-only -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
        -I. -I"$SA_SRC/src" -I"$inc" "$1" 2>&1
}
cp ocpi/ocpi_validate.c "$T/ok.c" && cp ocpi/ocpi_validate.h ocpi/ocpi_store.h ocpi/jsonb_access.h "$T/"
sed '/\[OCPI_S_LAST_UPDATED\] = /d' ocpi/ocpi_validate.c >"$T/bad.c"
(cd "$T" && cc_check ok.c >/dev/null) && out=$(cd "$T" && cc_check bad.c)
like "$out" "must have one entry per OcpiSessionField" "a Session field table shorter than OcpiSessionField does not compile"

cp ocpi/ocpi_store.c "$T/store_ok.c"
sed '/\[Param_ocpi_row_doc - 1\] = /d' ocpi/ocpi_store.c >"$T/store_bad.c"
(cd "$T" && cc_check store_ok.c >/dev/null) && out=$(cd "$T" && cc_check store_bad.c)
like "$out" "must give the type of every Param_ocpi_row_ parameter" "a statement parameter without a type does not compile"
