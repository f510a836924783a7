#!/usr/bin/env bash
# Lifecycle: the session functions against the plain SQL they wrap, in one
# run. Each row times N calls of a function (one statement each, inside a
# PL/pgSQL loop) and the same work written as bare statements on the store.
set -euo pipefail
SCALE=${BENCH_SCALE:-1}
N=$(awk -v s="$SCALE" 'BEGIN { n = 20000 * s; if (n < 500) n = 500; printf "%d", n }')
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -P pager=off)

echo "## Lifecycle ($N sessions per operation)"
# Each part runs in its own transaction (a DO block, the declarations below),
# then the store is vacuumed so no part pays for the dead rows of another.
DECLARE_VARS='DECLARE
    n int := current_setting($q$bench.n$q$)::int;
    t timestamptz; a float8; b float8; tok text; c timestamptz; k uuid; got int;'
PARTS=()
part() { PARTS+=("DO \$\$ $DECLARE_VARS
BEGIN
$1
END \$\$;
VACUUM ANALYZE sessions.store;"); }

part "$(cat <<'PART'
    -- open_session vs a plain INSERT of the same row
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.open_session('online', reference => 'bo-' || i); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP
        INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until, doc)
        VALUES ('invoice', 'batch', 'bp-' || i, 'OPEN', now(), now() + interval '12 hours',
                '{"status_code": 100, "invoice_count": 0, "successful": 0, "failed": 0}');
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('open_session', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- session_status vs SELECT doc by reference
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.session_status('bo-' || i); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM s.doc FROM sessions.store s WHERE s.kind = 'invoice' AND s.external_id = 'bp-' || i; END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('session_status', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- count_session_item vs a jsonb counter UPDATE
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.count_session_item('bo-' || i, true); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP
        UPDATE sessions.store s SET doc = s.doc || jsonb_build_object('invoice_count', (s.doc ->> 'invoice_count')::int + 1)
         WHERE s.kind = 'invoice' AND s.external_id = 'bp-' || i;
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('count_session_item', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- claim_session vs an upsert into a plain lease table
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.claim_session('bo-' || i, 'w', '1 minute'); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP
        INSERT INTO lease_plain AS l VALUES ('bp-' || i, 'w', clock_timestamp() + interval '1 minute')
        ON CONFLICT (ref) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
         WHERE l.holder = excluded.holder OR l.lease_until <= clock_timestamp();
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('claim_session', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- session_state + resume_session (sign, verify, re-read the status) vs
    -- reading the stored row twice
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.resume_session(sessions.session_state('bo-' || i)); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP
        PERFORM s.session_key, s.started_at, s.valid_until FROM sessions.store s WHERE s.kind = 'invoice' AND s.external_id = 'bp-' || i;
        PERFORM s.doc FROM sessions.store s WHERE s.kind = 'invoice' AND s.external_id = 'bp-' || i;
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('session_state + resume_session', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- list_sessions: every page of 100 vs a bare keyset query returning the stored documents
    t := clock_timestamp();
    tok := NULL; got := 0;
    LOOP
        SELECT l.continuation, got + jsonb_array_length(l.items) INTO tok, got
          FROM sessions.list_sessions('online', page_size => 100, continuation => tok) l;
        EXIT WHEN tok IS NULL;
    END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    c := NULL; k := NULL;
    LOOP
        SELECT min(p.started_at), (array_agg(p.session_key ORDER BY p.started_at, p.session_key))[1],
               count(*) + 0 * coalesce(jsonb_array_length(jsonb_agg(p.doc)), 0) INTO c, k, got
          FROM (SELECT s.started_at, s.session_key, s.doc FROM sessions.store s
                 WHERE s.kind = 'invoice' AND s.namespace = 'batch'
                   AND (s.started_at, s.session_key) < (coalesce(c, 'infinity'), coalesce(k, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
                 ORDER BY s.started_at DESC, s.session_key DESC LIMIT 100) p;
        EXIT WHEN got < 100;
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('list_sessions, pages of 100', (n + 99) / 100, a, b);
PART
)"

part "$(cat <<'PART'
    -- create_session vs a plain telemetry INSERT
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP PERFORM sessions.create_session('bench', identifier => 'c' || i, details => '{"track": "x"}'); END LOOP;
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    FOR i IN 1 .. n LOOP
        INSERT INTO sessions.store (kind, namespace, status, started_at, doc)
        VALUES ('telemetry', 'bench-plain', 'LIVE', now(),
                jsonb_build_object('type', 'Session', 'version', 1, 'utc_offset', 0, 'identifier', 'c' || i,
                                   'details', '{"track": "x"}'::jsonb));
    END LOOP;
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('create_session', n, a, b);
PART
)"

part "$(cat <<'PART'
    -- expire_sessions over every due session vs the bare UPDATE
    UPDATE sessions.store SET valid_until = now() - interval '1 second', started_at = now() - interval '1 minute'
     WHERE kind = 'invoice' AND ended_at IS NULL;
    t := clock_timestamp();
    PERFORM sessions.expire_sessions();
    a := 1000 * extract(epoch FROM clock_timestamp() - t);
    UPDATE sessions.store SET ended_at = NULL, status = 'OPEN' WHERE kind = 'invoice';
    t := clock_timestamp();
    UPDATE sessions.store s SET status = 'EXPIRED', ended_at = s.valid_until
     WHERE s.kind = 'invoice' AND s.ended_at IS NULL AND s.valid_until <= now();
    b := 1000 * extract(epoch FROM clock_timestamp() - t);
    INSERT INTO r VALUES ('expire_sessions, ' || 2 * n || ' due', 1, a, b);
PART
)"

{
    echo "SET synchronous_commit = off;"
    echo "CREATE TEMP TABLE r (op text, calls int, subject_ms float8, baseline_ms float8);"
    echo "CREATE TEMP TABLE lease_plain (ref text PRIMARY KEY, holder text, lease_until timestamptz);"
    echo "SET bench.n = $N;"
    printf '%s\n' "${PARTS[@]}"
    cat <<'SQL'
SELECT op AS operation, round(subject_ms::numeric, 1) AS function_ms, round(baseline_ms::numeric, 1) AS plain_sql_ms,
       round((subject_ms / baseline_ms)::numeric, 2) AS ratio,
       calls, round((calls / (subject_ms / 1000))::numeric) AS calls_per_s
  FROM r;
SQL
} | "${PSQL[@]}"
"${PSQL[@]}" -c "DELETE FROM sessions.store WHERE kind IN ('invoice', 'telemetry') AND namespace IN ('online', 'batch', 'bench', 'bench-plain')"
