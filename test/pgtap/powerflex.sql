-- PowerFlex import: both document shapes, re-import, skipped rows and their
-- reasons, documents of another shape, row numbering, pseudonyms.
BEGIN;
SET client_min_messages = warning;
SELECT plan(89);

SELECT has_function('sessions', 'import_powerflex', ARRAY['jsonb', 'text']);
SELECT function_returns('sessions', 'import_powerflex', ARRAY['jsonb', 'text'], 'setof record');
SELECT has_table('sessions', 'import_rejects', 'skipped rows are kept in sessions.import_rejects');
SELECT function_privs_are('sessions', 'import_powerflex', ARRAY['jsonb', 'text'], 'session_analytics_writer',
                          ARRAY['EXECUTE'], 'writers may import');
SELECT function_privs_are('sessions', 'import_powerflex', ARRAY['jsonb', 'text'], 'public',
                          ARRAY[]::text[], 'the public may not import');

-- The API response shape.
SELECT results_eq(
    $$SELECT * FROM sessions.import_powerflex('{"rows": [
        {"session_id": "0021160501_2025-09-11_a", "reporting_id": 477544158, "session_kwh": 5.3713,
         "session_start_time": 1757623500418, "session_end_time": 1757630700470,
         "created_at": "2025-09-15T07:12:27.381Z", "updated_at": "2025-09-15T07:13:13.838Z",
         "status": "FINISHED", "user": "user@example.com", "vehicle": "2020 Tesla Model Y Performance AWD",
         "site": "Site Name", "cost_actual": 0.81, "charger": {"model": "PFX"}},
        {"session_id": "0021160501_2025-09-11_b", "session_kwh": 0,
         "session_start_time": 1757623500418, "session_end_time": 1757623546418,
         "status": "FINISHED", "user": null, "site": "Site Name"}],
      "total_count": 2, "page": 1, "limit": 25}')$$,
    $$VALUES (2, 0, 0)$$, 'API response shape: two rows imported');

SELECT results_eq(
    $$SELECT namespace, kind, external_id, status, started_at, ended_at, kwh, user_ref, site, last_updated
        FROM sessions.store WHERE external_id = '0021160501_2025-09-11_a'$$,
    $$VALUES ('Site Name'::text, 'powerflex'::text, '0021160501_2025-09-11_a'::text, 'FINISHED'::text,
              '2025-09-11 20:45:00.418+00'::timestamptz, '2025-09-11 22:45:00.47+00'::timestamptz,
              5.3713::float8, 'user@example.com'::text, 'Site Name'::text,
              '2025-09-15 07:13:13.838+00'::timestamptz)$$,
    'columns per the powerflex convention (times from epoch ms, namespace = row site)');
SELECT is((SELECT doc -> 'charger' ->> 'model' FROM sessions.store WHERE external_id = '0021160501_2025-09-11_a'),
          'PFX', 'unknown fields kept in doc');
SELECT is((SELECT doc ->> 'vehicle' FROM sessions.store WHERE external_id = '0021160501_2025-09-11_a'),
          '2020 Tesla Model Y Performance AWD', 'known extra fields kept in doc');

-- Re-import updates, keyed on session_id.
SELECT results_eq(
    $$SELECT * FROM sessions.import_powerflex('[{"session_id": "0021160501_2025-09-11_a", "session_kwh": 6.0,
        "session_start_time": 1757623500418, "session_end_time": 1757630700470, "site": "Site Name",
        "status": "FINISHED"}]')$$,
    $$VALUES (0, 1, 0)$$, 'bare list shape; a re-import updates');
SELECT is((SELECT kwh FROM sessions.store WHERE external_id = '0021160501_2025-09-11_a'), 6.0::float8,
          're-import changed kWh');
SELECT is((SELECT count(*)::int FROM sessions.store WHERE kind = 'powerflex'), 2, 'no duplicate row');

-- The site argument names the namespace and the site.
SELECT results_eq(
    $$SELECT * FROM sessions.import_powerflex('[{"session_id": "x1", "session_kwh": 1,
        "session_start_time": 1757623500418, "site": "Row Site"}]', 'Depot')$$,
    $$VALUES (1, 0, 0)$$, 'import with a site');
SELECT results_eq(
    $$SELECT namespace, site, status, ended_at IS NULL FROM sessions.store WHERE external_id = 'x1'$$,
    $$VALUES ('Depot'::text, 'Depot'::text, 'ACTIVE'::text, true)$$,
    'site argument wins; no end and no status means ACTIVE');
SELECT results_eq(
    $$SELECT namespace FROM sessions.store WHERE external_id = 'x2'
      UNION ALL SELECT 'none' WHERE NOT EXISTS (SELECT 1 FROM sessions.store WHERE external_id = 'x2')$$,
    $$VALUES ('none'::text)$$, 'x2 not there yet');
SELECT lives_ok($$SELECT sessions.import_powerflex('[{"session_id": 42, "session_kwh": "0.5",
        "session_start_time": "1757623500418", "session_end_time": 1757623600418}]')$$,
    'numeric session_id and numeric strings accepted');
SELECT results_eq(
    $$SELECT namespace, kwh FROM sessions.store WHERE external_id = '42'$$,
    $$VALUES ('powerflex'::text, 0.5::float8)$$, 'no site anywhere: namespace powerflex');

-- Malformed rows: skipped, counted, reasons reported and kept.
DELETE FROM sessions.import_rejects;
SELECT results_eq(
    $$SELECT * FROM sessions.import_powerflex('[
        {"session_id": "good", "session_kwh": 2, "session_start_time": 1757623500000, "session_end_time": 1757627100000},
        {"session_kwh": 1, "session_start_time": 1757623500000},
        {"session_id": "k1", "session_kwh": "abc", "session_start_time": 1757623500000},
        {"session_id": "k2", "session_kwh": -1, "session_start_time": 1757623500000},
        {"session_id": "k3", "session_start_time": 1757623500000},
        {"session_id": "t1", "session_kwh": 1, "session_start_time": 1757627100000, "session_end_time": 1757623500000},
        {"session_id": "t2", "session_kwh": 1, "session_start_time": "soon"},
        {"session_id": "t3", "session_kwh": 1, "session_start_time": -5},
        {"session_id": "t4", "session_kwh": 1},
        {"session_id": "t5", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "2025-02-30"},
        "not an object",
        {"session_id": "d", "session_kwh": 1, "session_start_time": 1757623500000},
        {"session_id": "d", "session_kwh": 3, "session_start_time": 1757623500000},
        {"session_id": "u", "session_kwh": 1, "session_start_time": 1757623500000, "user": 7},
        {"session_id": "big", "session_kwh": 1e400, "session_start_time": 1757623500000}
      ]')$$,
    $$VALUES (2, 0, 13)$$, 'malformed rows skipped and counted');
SELECT results_eq(
    $$SELECT position, session_id, reason FROM sessions.import_rejects ORDER BY position$$,
    $$VALUES (2::bigint, NULL::text, 'session_id is missing'::text),
             (3, 'k1', 'session_kwh is not a number: "abc"'),
             (4, 'k2', 'session_kwh is negative: -1'),
             (5, 'k3', 'session_kwh is missing'),
             (6, 't1', 'session_end_time is before session_start_time'),
             (7, 't2', 'session_start_time is not a valid time: "soon"'),
             (8, 't3', 'session_start_time is not a valid time: -5'),
             (9, 't4', 'session_start_time is missing'),
             (10, 't5', 'updated_at is not a valid time: "2025-02-30"'),
             (11, NULL, 'row is not a JSON object'),
             (12, 'd', 'session_id repeated later in the document (the later row wins)'),
             (14, 'u', 'user is not a string'),
             (15, 'big', 'session_kwh is out of range: ' || left('1' || repeat('0', 400), 40))$$,
    'each reason kept in sessions.import_rejects with its position');
SELECT is((SELECT kwh FROM sessions.store WHERE external_id = 'd'), 3::float8, 'the later duplicate wins');
SELECT is((SELECT row_doc FROM sessions.import_rejects WHERE session_id = 'k2'),
          '{"session_id": "k2", "session_kwh": -1, "session_start_time": 1757623500000}'::jsonb,
          'the rejected row is kept');

-- Every field is checked for what the casts and the insert need: each of
-- these rows used to abort the whole import (22003, 54000) or be stored
-- with a special value; now each is skipped with its reason, the good row
-- next to them is imported.
DELETE FROM sessions.import_rejects;
SELECT results_eq(
    format($$SELECT * FROM sessions.import_powerflex('[
        {"session_id": "f0", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "2025-09-15T07:13:13.838Z"},
        {"session_id": "f1", "session_kwh": 1e-400, "session_start_time": 1757623500000},
        {"session_id": "f2", "session_kwh": "1e-400", "session_start_time": 1757623500000},
        {"session_id": "f3", "session_kwh": 4.9e-324, "session_start_time": 1757623500000},
        {"session_id": "f4", "session_kwh": 1, "session_start_time": 1757623500000, "site": "%s"},
        {"session_id": "%s", "session_kwh": 1, "session_start_time": 1757623500000},
        {"session_id": "f6", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "now"},
        {"session_id": "f7", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "infinity"},
        {"session_id": "f8", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "10000-01-01"},
        {"session_id": "f9", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "1969-12-31T23:59:59Z"},
        {"session_id": "f10", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "2025-02-29"},
        {"session_id": "f11", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "2025-09-15T24:00:00Z"},
        {"session_id": "f12", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "epoch"},
        {"session_id": "f13", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "2025-09-15 07:13:13+16:00"},
        {"session_id": "f14", "session_kwh": 1, "session_start_time": 1757623500000, "updated_at": "Sep 15 2025"},
        {"session_id": "f15", "session_kwh": 0.000000001, "session_start_time": 1757623500000, "updated_at": "2024-02-29T12:00+02:00"}
      ]', 'Depot')$$, repeat('s', 3200), repeat('i', 201)),
    $$VALUES (2, 0, 14)$$, 'each row that would fail a cast or an index is skipped; the good ones are imported');
SELECT results_eq(
    $$SELECT position, reason FROM sessions.import_rejects ORDER BY position$$,
    $$VALUES (2::bigint, 'session_kwh is too small (non-zero below 1e-9): 0.' || repeat('0', 38)),
             (3, 'session_kwh is too small (non-zero below 1e-9): 1e-400'),
             (4, 'session_kwh is too small (non-zero below 1e-9): 0.' || repeat('0', 38)),
             (5, 'site is longer than 1000 bytes'),
             (6, 'session_id is longer than 200 characters'),
             (7, 'updated_at is not a valid time: "now"'),
             (8, 'updated_at is not a valid time: "infinity"'),
             (9, 'updated_at is not a valid time: "10000-01-01"'),
             (10, 'updated_at is not a valid time: "1969-12-31T23:59:59Z"'),
             (11, 'updated_at is not a valid time: "2025-02-29"'),
             (12, 'updated_at is not a valid time: "2025-09-15T24:00:00Z"'),
             (13, 'updated_at is not a valid time: "epoch"'),
             (14, 'updated_at is not a valid time: "2025-09-15 07:13:13+16:00"'),
             (15, 'updated_at is not a valid time: "Sep 15 2025"')$$,
    'the reason of each: tiny kWh, long site, long session_id, special words, out-of-range and impossible dates');
SELECT results_eq($$SELECT external_id, kwh, last_updated FROM sessions.store WHERE external_id IN ('f0', 'f15') ORDER BY 1$$,
                  $$VALUES ('f0'::text, 1::float8, '2025-09-15 07:13:13.838+00'::timestamptz),
                           ('f15', 1e-9::float8, '2024-02-29 10:00+00'::timestamptz)$$,
                  'boundary values (1e-9 kWh, 29 February of a leap year, an offset) are imported');
SELECT is((SELECT count(DISTINCT namespace)::int FROM sessions.import_rejects), 1, 'rejects carry the namespace');
SELECT is((SELECT min(namespace) FROM sessions.import_rejects), 'Depot', 'the site argument names the rejects'' namespace');
DELETE FROM sessions.import_rejects;
SELECT results_eq(format($$SELECT skipped FROM sessions.import_powerflex('[{"session_id": "g1", "session_kwh": 1,
                         "session_start_time": 1757623500000, "site": "%s"}]')$$, repeat('s', 3200)),
                  $$VALUES (1)$$, 'without a site argument too a long site is skipped, not an index error');
SELECT is((SELECT namespace FROM sessions.import_rejects), 'powerflex',
          'a reject whose own site is unusable is logged under powerflex');
SELECT throws_ok(format($$SELECT sessions.import_powerflex('[]', '%s')$$, repeat('€', 334)), '22023',
                 'import_powerflex: site is longer than 1000 bytes', 'a site argument over 1000 bytes');
SELECT function_privs_are('sessions', 'powerflex_row_problem', ARRAY['jsonb'], 'session_analytics_reader',
                          ARRAY[]::text[], 'readers may not call the row check');

-- Row numbers follow "offset", else the page.
DELETE FROM sessions.import_rejects;
SELECT results_eq($$SELECT skipped FROM sessions.import_powerflex('{"offset": 4000, "rows": [{"session_id": "o1"}]}')$$,
                  $$VALUES (1)$$, 'offset document');
SELECT results_eq($$SELECT skipped FROM sessions.import_powerflex('{"page": 3, "limit": 25, "rows": [{}, {"session_id": "p1"}]}')$$,
                  $$VALUES (2)$$, 'page document');
SELECT results_eq($$SELECT position FROM sessions.import_rejects ORDER BY position$$,
                  $$VALUES (51::bigint), (52::bigint), (4001::bigint)$$,
                  'positions numbered in the whole export');

-- Another shape is an error and writes nothing.
SELECT throws_ok($$SELECT sessions.import_powerflex('{"data": []}')$$, '22023',
                 'import_powerflex: doc is not a PowerFlex export', 'object without rows');
SELECT throws_ok($$SELECT sessions.import_powerflex('{"rows": {"a": 1}}')$$, '22023', NULL, 'rows not an array');
SELECT throws_ok($$SELECT sessions.import_powerflex('"rows"')$$, '22023', NULL, 'a string');
SELECT throws_ok($$SELECT sessions.import_powerflex(NULL)$$, '22004', NULL, 'NULL document');
SELECT throws_ok($$SELECT sessions.import_powerflex('[]', '  ')$$, '22023', NULL, 'empty site name');
SELECT results_eq($$SELECT * FROM sessions.import_powerflex('[]')$$, $$VALUES (0, 0, 0)$$, 'an empty export');

-- Helpers.
SELECT is(sessions.powerflex_row_problem('{"session_id": "a", "session_kwh": 1, "session_start_time": 1e20}'),
          'session_start_time is not a valid time: 100000000000000000000', 'time out of range');
SELECT is(sessions.powerflex_row_problem('{"session_id": "a", "session_kwh": 1, "session_start_time": 1, "session_end_time": {}}'),
          'session_end_time is not a valid time: {}', 'an object as a time');
SELECT is(sessions.powerflex_row_problem('{"session_id": "a", "session_kwh": 0, "session_start_time": 1}'), NULL,
          'a good row has no problem');
-- The row check is C (issue 14); every reason of the PL/pgSQL rules is kept.
SELECT is((SELECT l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'sessions.powerflex_row_problem(jsonb)'::regprocedure), 'c', 'the row check is written in C');
SELECT is((SELECT proparallel::text || provolatile::text FROM pg_proc WHERE oid = 'sessions.powerflex_row_problem(jsonb)'::regprocedure),
          'us', 'the row check is PARALLEL UNSAFE (it may open a subtransaction) and STABLE (TimeZone)');
CREATE TABLE public.tap_pf_reasons (r jsonb, reason text);
INSERT INTO public.tap_pf_reasons VALUES
    ('"x"', 'row is not a JSON object'), (NULL, 'row is not a JSON object'),
    ('{"session_id": true}', 'session_id is missing'), ('{"session_id": "   "}', 'session_id is missing'),
    (jsonb_build_object('session_id', repeat('é', 201)), 'session_id is longer than 200 characters'),
    ('{"session_id": 7}', 'session_kwh is missing'), ('{"session_id": "a", "session_kwh": null}', 'session_kwh is missing'),
    ('{"session_id": "a", "session_kwh": "1,5"}', 'session_kwh is not a number: "1,5"'),
    ('{"session_id": "a", "session_kwh": "1e1234"}', 'session_kwh is not a number: "1e1234"'),
    ('{"session_id": "a", "session_kwh": " -2 "}', 'session_kwh is negative:  -2 '),
    ('{"session_id": "a", "session_kwh": 1000000001}', 'session_kwh is out of range: 1000000001'),
    ('{"session_id": "a", "session_kwh": "1e-10"}', 'session_kwh is too small (non-zero below 1e-9): 1e-10'),
    ('{"session_id": "a", "session_kwh": 1, "user": 5}', 'user is not a string'),
    ('{"session_id": "a", "session_kwh": 1, "site": []}', 'site is not a string'),
    (jsonb_build_object('session_id', 'a', 'session_kwh', 1, 'site', repeat('€', 334)), 'site is longer than 1000 bytes'),
    ('{"session_id": "a", "session_kwh": 1, "status": {}}', 'status is not a string'),
    ('{"session_id": "a", "session_kwh": ".5"}', 'session_start_time is missing'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": "1234567890123456"}', 'session_start_time is not a valid time: "1234567890123456"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": -1}', 'session_start_time is not a valid time: -1'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": " 5.5 ", "session_end_time": 253402300800000}', 'session_end_time is not a valid time: 253402300800000'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "2025-02-29T07:13:13.838Z"}', 'updated_at is not a valid time: "2025-02-29T07:13:13.838Z"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "2025-09-15T07:73:13.838Z"}', 'updated_at is not a valid time: "2025-09-15T07:73:13.838Z"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "2025-09-15T24:00:00Z"}', 'updated_at is not a valid time: "2025-09-15T24:00:00Z"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "1969-12-31T23:30:00Z"}', 'updated_at is not a valid time: "1969-12-31T23:30:00Z"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "now"}', 'updated_at is not a valid time: "now"'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": 5}', 'updated_at is not a timestamp'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "session_end_time": "4"}', 'session_end_time is before session_start_time'),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "1969-12-31T23:30:00-01"}', NULL),
    ('{"session_id": "a", "session_kwh": "+3", "session_start_time": "5", "updated_at": "2024-02-29 07:13"}', NULL),
    ('{"session_id": "a", "session_kwh": 1e-9, "session_start_time": 5, "updated_at": "2025-09-15+01"}', NULL),
    ('{"session_id": "a", "session_kwh": 1, "session_start_time": 5, "updated_at": "9999-12-31T23:59:59.999999Z"}', NULL);
SELECT is((SELECT string_agg(format('%s: got %s, want %s', r, sessions.powerflex_row_problem(r), reason), '; ')
             FROM public.tap_pf_reasons WHERE sessions.powerflex_row_problem(r) IS DISTINCT FROM reason), NULL,
          'every rule gives its reason (and good rows none)');
-- The PL/pgSQL check was PARALLEL SAFE but opened a subtransaction: in a
-- parallel worker it failed ("cannot start subtransactions during a
-- parallel operation").
SET LOCAL force_parallel_mode = on;
SELECT lives_ok($$SELECT count(sessions.powerflex_row_problem(r)) FROM public.tap_pf_reasons$$,
                'the row check runs under a parallel plan');
RESET force_parallel_mode;
-- Only ASCII whitespace surrounds a numeric string: a Unicode space makes a
-- skipped row with its reason (with a locale whose \s matched it, the
-- PL/pgSQL check passed it to numeric input, which failed the import).
SELECT results_eq($$SELECT skipped FROM sessions.import_powerflex(jsonb_build_array(jsonb_build_object(
                      'session_id', 'u1', 'session_kwh', E'\u2003' || '5', 'session_start_time', 5)))$$,
                  $$VALUES (1)$$, 'a kWh with a Unicode space is skipped, not an error');
SELECT is((SELECT reason FROM sessions.import_rejects WHERE session_id = 'u1'),
          'session_kwh is not a number: "' || E'\u2003' || '5"', 'with its reason');
SELECT is(sessions.user_pseudonym('vera.combatvet@gmail.com'), sessions.user_pseudonym('vera.combatvet@gmail.com'),
          'pseudonyms are stable');
SELECT matches(sessions.user_pseudonym('vera.combatvet@gmail.com'), '^user-[0-9a-f]{10}$', 'pseudonym shape');
SELECT is(sessions.anonymize_doc('{"user": "a@b.example", "note": "mail c.d@e.example now", "n": 1}', 'a@b.example'),
          jsonb_build_object('user', sessions.user_pseudonym('a@b.example'), 'note', 'mail (redacted) now', 'n', 1),
          'anonymized document: user pseudonym, other addresses redacted');
SELECT is(sessions.anonymize_doc('[1, "x@y.example"]', NULL), '[1, "(redacted)"]'::jsonb, 'non-object documents redacted');

-- A re-import writes only the rows that changed (issue 14): an unchanged
-- row keeps its row version (ctid), a changed one (even 1.0 -> 1.00 in the
-- document) is written; both count as updated.
SELECT results_eq($$SELECT * FROM sessions.import_powerflex('[{"session_id": "w1", "session_kwh": 1.0, "session_start_time": 5, "updated_at": "2025-01-01"},
                                                              {"session_id": "w2", "session_kwh": 2, "session_start_time": 5, "updated_at": "2025-01-01"}]', 'Wharf')$$,
                  $$VALUES (2, 0, 0)$$, 'two rows imported');
CREATE TEMP TABLE tap_pf_versions AS SELECT external_id, ctid::text AS x FROM sessions.store WHERE namespace = 'Wharf';
SELECT results_eq($$SELECT * FROM sessions.import_powerflex('[{"session_id": "w1", "session_kwh": 1.00, "session_start_time": 5, "updated_at": "2025-01-01"},
                                                              {"session_id": "w2", "session_kwh": 2, "session_start_time": 5, "updated_at": "2025-01-01"}]', 'Wharf')$$,
                  $$VALUES (0, 2, 0)$$, 'the re-import counts both as updated');
SELECT results_eq($$SELECT s.external_id, s.ctid::text = v.x, s.doc ->> 'session_kwh' FROM sessions.store s JOIN tap_pf_versions v USING (external_id)
                     WHERE s.namespace = 'Wharf' ORDER BY 1$$,
                  $$VALUES ('w1', false, '1.00'), ('w2', true, '2')$$,
                  'the changed row is written again, the unchanged one is not');

-- powerflex_rows (issue 14): the import's rows in one pass, as it stores them.
SELECT results_eq(
    $$SELECT "position", namespace, problem, external_id, status, started_at, ended_at, kwh, user_ref, site_value, last_updated
        FROM sessions.powerflex_rows('[
          {"session_id": "r1", "session_kwh": " 2.5 ", "session_start_time": "1757623500418", "session_end_time": 1757630700470,
           "status": " done ", "user": "a@b.example", "site": "  Quay ", "updated_at": "2025-09-15T07:13:13.838Z"},
          {"session_id": 7, "session_kwh": 0, "session_start_time": 1757623500000, "session_end_time": null, "site": "   "},
          {"session_id": "r1", "session_kwh": 1, "session_start_time": 5, "site": "Quay"},
          {"session_id": "r1", "session_kwh": -1, "session_start_time": 5, "site": "Quay"},
          "x"]', 10)$$,
    $$VALUES (11::bigint, 'Quay', 'session_id repeated later in the document (the later row wins)', NULL::text, NULL::text,
              NULL::timestamptz, NULL::timestamptz, NULL::float8, NULL::text, NULL::text, NULL::timestamptz),
             (12, 'powerflex', NULL, '7', 'ACTIVE', to_timestamp(1757623500), NULL, 0, NULL, '   ', now()),
             (13, 'Quay', NULL, 'r1', 'ACTIVE', to_timestamp(0.005), NULL, 1, NULL, 'Quay', now()),
             (14, 'Quay', 'session_kwh is negative: -1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             (15, 'powerflex', 'row is not a JSON object', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$,
    'powerflex_rows: positions from base, namespaces (trimmed site, else powerflex), the last valid duplicate kept, typed columns');
SELECT results_eq(
    $$SELECT namespace, site_value, status, started_at, ended_at, kwh, user_ref, last_updated
        FROM sessions.powerflex_rows('[{"session_id": "r1", "session_kwh": " 2.5 ", "session_start_time": "1757623500418",
                                        "session_end_time": 1757630700470, "status": " done ", "user": "a@b.example",
                                        "site": "  Quay ", "updated_at": "2025-09-15T07:13:13.838Z"}]', 0, 'Depot')$$,
    $$VALUES ('Depot', 'Depot', 'done', to_timestamp(1757623500.418), to_timestamp(1757630700.470), 2.5::float8, 'a@b.example',
              '2025-09-15T07:13:13.838Z'::timestamptz)$$,
    'powerflex_rows: the site argument names namespace and site; status trimmed; times from epoch ms; updated_at');
-- Each row alone: the problem is the row check's, and a good row's columns
-- are what the 0.2.0 import's SQL computed from it.
SELECT is((SELECT string_agg(format('%s: got %s, want %s', t.r, p.problem, t.reason), '; ')
             FROM public.tap_pf_reasons t, sessions.powerflex_rows(jsonb_build_array(COALESCE(t.r, 'null'))) p
            WHERE p.problem IS DISTINCT FROM t.reason), NULL,
          'powerflex_rows gives each row the row check''s reason');
SELECT is((SELECT string_agg(t.r::text, '; ')
             FROM public.tap_pf_reasons t, sessions.powerflex_rows(jsonb_build_array(t.r)) p
            WHERE t.reason IS NULL
              AND (p.external_id, p.status, p.started_at, p.ended_at, p.kwh, p.user_ref, p.site_value, p.last_updated)
                  IS DISTINCT FROM
                  (t.r ->> 'session_id',
                   COALESCE(NULLIF(btrim(t.r ->> 'status'), ''),
                            CASE WHEN jsonb_typeof(t.r -> 'session_end_time') IS DISTINCT FROM 'number'
                                      AND jsonb_typeof(t.r -> 'session_end_time') IS DISTINCT FROM 'string'
                                 THEN 'ACTIVE' ELSE 'FINISHED' END),
                   to_timestamp(((t.r ->> 'session_start_time')::numeric / 1000)::float8),
                   to_timestamp(((t.r ->> 'session_end_time')::numeric / 1000)::float8),
                   (t.r ->> 'session_kwh')::float8, t.r ->> 'user', t.r ->> 'site',
                   COALESCE((t.r ->> 'updated_at')::timestamptz, now()))), NULL,
          'powerflex_rows types a good row as the SQL import did');
SELECT results_eq($$SELECT count(*)::int FROM sessions.powerflex_rows('[]')$$, $$VALUES (0)$$, 'powerflex_rows of no rows');
SELECT throws_ok($$SELECT * FROM sessions.powerflex_rows(NULL)$$, '22004', 'powerflex_rows: rows must not be NULL',
                 'powerflex_rows refuses NULL rows');
SELECT throws_ok($$SELECT * FROM sessions.powerflex_rows('[]', NULL)$$, '22004', 'powerflex_rows: base must not be NULL',
                 'powerflex_rows refuses a NULL base');
SELECT throws_ok($$SELECT * FROM sessions.powerflex_rows('{"rows": []}')$$, '22023', 'powerflex_rows: rows must be a JSON array',
                 'powerflex_rows refuses an object');
SELECT throws_ok($$SELECT * FROM sessions.powerflex_rows('[{}]', -1)$$, '22003', 'powerflex_rows: base -1 is out of range',
                 'powerflex_rows refuses a negative base');
SELECT throws_ok($$SELECT * FROM sessions.powerflex_rows('[{}]', 9223372036854775807)$$, '22003', NULL,
                 'powerflex_rows refuses a base whose positions overflow');
SELECT function_privs_are('sessions', 'powerflex_rows', ARRAY['jsonb', 'bigint', 'text'], 'session_analytics_writer',
                          ARRAY['EXECUTE'], 'writers may call powerflex_rows (import_powerflex runs as the caller)');
SELECT function_privs_are('sessions', 'powerflex_rows', ARRAY['jsonb', 'bigint', 'text'], 'session_analytics_reader',
                          ARRAY[]::text[], 'readers may not call powerflex_rows');
SELECT is((SELECT l.lanname::text || p.proparallel::text || p.provolatile::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'sessions.powerflex_rows(jsonb, bigint, text)'::regprocedure), 'cus',
          'powerflex_rows is C, PARALLEL UNSAFE and STABLE, as the row check');

-- The same over many times: whole epoch ms take a shortcut past the numeric
-- division (powerflex_check.c, ms_timestamptz), fractions do not; both
-- must give the SQL import's instants, bit for bit, and kwh its float8.
SELECT setseed(0.14);
CREATE TEMP TABLE tap_pf_times AS
SELECT g, jsonb_build_object('session_id', 'T' || g, 'session_start_time', ms, 'session_end_time', ms + (g % 7) * 1000.25,
                             'session_kwh', round((random() * 90)::numeric, (g % 9)), 'site', 'Times') AS r
  FROM (SELECT g, CASE g % 4 WHEN 0 THEN floor(random() * 253402300799999)::numeric
                             WHEN 1 THEN floor(random() * 2000000000000)::numeric
                             WHEN 2 THEN round((random() * 2000000000000)::numeric, 1 + g % 5)
                             ELSE (g % 2000)::numeric END AS ms
          FROM generate_series(1, 4000) g) x
 WHERE ms + 7000 < 253402300799999;
SELECT is((SELECT count(*) FILTER (WHERE p.problem IS NOT NULL
                                       OR (p.started_at, p.ended_at, p.kwh) IS DISTINCT FROM
                                          (to_timestamp(((t.r ->> 'session_start_time')::numeric / 1000)::float8),
                                           to_timestamp(((t.r ->> 'session_end_time')::numeric / 1000)::float8),
                                           (t.r ->> 'session_kwh')::float8))
                    || ' of ' || count(*)
             FROM (SELECT r, row_number() OVER (ORDER BY g) AS pos FROM tap_pf_times) t
             JOIN sessions.powerflex_rows((SELECT jsonb_agg(r ORDER BY g) FROM tap_pf_times)) p ON p.position = t.pos),
          '0 of ' || (SELECT count(*) FROM tap_pf_times),
          'powerflex_rows: 4,000 whole and fractional epoch-ms times and kwh values typed exactly as the SQL import did');

-- The fast path: a batch whose first, middle and last rows are not stored
-- is inserted without the ON CONFLICT arbiter. A stored row elsewhere in it
-- (here the second of five; the probes look at rows 1, 3 and 5) makes that
-- attempt fail, and the upsert runs instead: the counts, rows, rejects and
-- events are the upsert's, nothing of the attempt is kept. FastPathControl
-- gets the same rows with the stored one first, so no attempt is made.
CREATE FUNCTION pg_temp.fp_rows(site text, stored_first boolean) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(r ORDER BY o) FROM (
        SELECT CASE WHEN i = 4 THEN jsonb_build_object('session_id', 'FP-4', 'session_kwh', 'abc', 'site', site,
                                                       'session_start_time', 1757623500000)
                    ELSE jsonb_build_object('session_id', 'FP-' || i, 'session_kwh', i, 'site', site, 'status', 'FINISHED',
                                            'session_start_time', 1757623500000 + i * 1000,
                                            'session_end_time', 1757630700000 + i * 1000,
                                            'updated_at', '2025-09-16T08:00:00.000Z') END,
               CASE WHEN stored_first AND i = 2 THEN 0 ELSE i END
          FROM generate_series(1, 5) i) x(r, o)
$$;
CREATE TEMP TABLE fp_ins (what text, n bigint);
INSERT INTO fp_ins SELECT 'before', n_tup_ins FROM pg_stat_xact_user_tables WHERE relid = 'sessions.store'::regclass;
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(
                      '[{"session_id": "FP-2", "session_kwh": 9, "site": "FastPath", "session_start_time": 1757623502000}]')$$,
                  $$VALUES (1, 0, 0)$$, 'fast path: FP-2 stored first');
INSERT INTO fp_ins SELECT 'stored', n_tup_ins FROM pg_stat_xact_user_tables WHERE relid = 'sessions.store'::regclass;
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(pg_temp.fp_rows('FastPath', false))$$,
                  $$VALUES (3, 1, 1)$$, 'fast path: a stored row the probes miss: 3 imported, 1 updated, 1 skipped');
INSERT INTO fp_ins SELECT 'batch', n_tup_ins FROM pg_stat_xact_user_tables WHERE relid = 'sessions.store'::regclass;
SELECT is((SELECT (SELECT n FROM fp_ins WHERE what = 'batch') - (SELECT n FROM fp_ins WHERE what = 'stored')), 5::bigint,
          'fast path: the attempt inserted FP-1 and FP-2''s heap row (its key then failed), the upsert FP-1, FP-3 and FP-5');
SELECT results_eq($$SELECT external_id, kwh FROM sessions.store WHERE namespace = 'FastPath' ORDER BY 1$$,
                  $$VALUES ('FP-1'::text, 1::float8), ('FP-2', 2), ('FP-3', 3), ('FP-5', 5)$$,
                  'fast path: every row stored once, FP-2 updated by the batch');
SELECT results_eq($$SELECT * FROM sessions.import_powerflex('[{"session_id": "FP-2", "session_kwh": 9, "site": "FastPathControl", "session_start_time": 1757623502000}]')
                    UNION ALL SELECT * FROM sessions.import_powerflex(pg_temp.fp_rows('FastPathControl', true))$$,
                  $$VALUES (1, 0, 0), (3, 1, 1)$$, 'fast path: the control (stored row first) gives the same counts');
SELECT is((SELECT count(*) FROM sessions.import_rejects WHERE namespace = 'FastPath' AND session_id = 'FP-4'), 1::bigint,
          'fast path: the rejected row is logged once');
SELECT ok((SELECT array_agg(x ORDER BY x) FROM (SELECT external_id || ':' || event || ':' || status FROM sessions.event_log
                                                 WHERE namespace = 'FastPath') e(x))
          IS NOT DISTINCT FROM
          (SELECT array_agg(x ORDER BY x) FROM (SELECT external_id || ':' || event || ':' || status FROM sessions.event_log
                                                 WHERE namespace = 'FastPathControl') e(x))
          AND (SELECT count(DISTINCT external_id) FROM sessions.event_log WHERE namespace = 'FastPath') = 4,
          'fast path: the events of the four sessions are exactly the control''s, none from the failed attempt');

-- The same export again: when the first, middle and last rows are stored
-- unchanged, the upsert leaves out every unchanged row before ON CONFLICT
-- would lock it, so an unchanged row keeps xmax 0 (a lock sets it). A
-- changed row elsewhere in the batch (here the second of five) is still
-- written; a changed probe makes it the plain upsert, which locks.
CREATE FUNCTION pg_temp.same_rows(kwh2 numeric, kwh3 numeric) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('session_id', 'SA-' || i,
                                        'session_kwh', CASE i WHEN 2 THEN kwh2 WHEN 3 THEN kwh3 ELSE i END,
                                        'site', 'Again', 'status', 'FINISHED',
                                        'session_start_time', 1757623500000 + i * 1000,
                                        'updated_at', '2025-09-16T08:00:00.000Z') ORDER BY i)
      FROM generate_series(1, 5) i
$$;
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(pg_temp.same_rows(2, 3))$$,
                  $$VALUES (5, 0, 0)$$, 'same export again: five rows imported');
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(pg_temp.same_rows(2, 3))$$,
                  $$VALUES (0, 5, 0)$$, 'same export again: all five count as updated');
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'Again' AND xmax = '0'::xid), 5::bigint,
          'same export again: no row was locked or written');
CREATE TEMP TABLE tap_pf_again AS SELECT external_id, ctid::text AS x FROM sessions.store WHERE namespace = 'Again';
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(pg_temp.same_rows(20, 3))$$,
                  $$VALUES (0, 5, 0)$$, 'same export, one row between the probes changed: counted as updated');
SELECT results_eq($$SELECT s.external_id, s.kwh, s.ctid::text = a.x, s.xmax = '0'::xid
                      FROM sessions.store s JOIN tap_pf_again a USING (external_id) WHERE s.namespace = 'Again' ORDER BY 1$$,
                  $$VALUES ('SA-1'::text, 1::float8, true, true), ('SA-2', 20, false, false), ('SA-3', 3, true, true),
                           ('SA-4', 4, true, true), ('SA-5', 5, true, true)$$,
                  'same export, one row between the probes changed: that row alone written, the others not even locked');
SELECT results_eq($$SELECT * FROM sessions.import_powerflex(pg_temp.same_rows(20, 30))$$,
                  $$VALUES (0, 5, 0)$$, 'a changed probe (the middle row): counted as updated');
SELECT results_eq($$SELECT count(*), sum(kwh), count(*) FILTER (WHERE xmax = '0'::xid) FROM sessions.store WHERE namespace = 'Again'$$,
                  $$VALUES (5::bigint, 60::float8, 0::bigint)$$,
                  'a changed probe: the plain upsert, which writes the change and locks the other rows');

-- The unchanged-row filter looks each row up by its whole key, whatever the
-- store's statistics say. After the store was emptied and vacuumed (not
-- analyzed since) they say it is empty: as NOT EXISTS the look-up became a
-- nested loop over a scan of every PowerFlex row, minutes per batch.
\ir lib/explain.sql
UPDATE pg_catalog.pg_class SET reltuples = 0, relpages = 1000 WHERE oid = 'sessions.store'::regclass;
SELECT format('PREPARE tap_pf_filtered(jsonb, int8, text) AS %s',
              replace(replace(split_part(split_part(p.prosrc, '$stmt$', 2), '$stmt$', 1),
                              '{filter}', split_part(split_part(p.prosrc, '$filter$', 2), '$filter$', 1)),
                      '{conflict}', split_part(split_part(p.prosrc, '$upsert$', 2), '$upsert$', 1))) AS prep
  FROM pg_catalog.pg_proc p WHERE p.oid = 'sessions.import_powerflex(jsonb, text)'::regprocedure \gset
:prep;
-- (this store is small enough for a scan to be cheaper: seqscan off shows
-- that the look-up's index condition is the whole key)
SET enable_seqscan = off;
SELECT matches(pg_temp.explain($$EXECUTE tap_pf_filtered('[{"session_id": "x", "session_kwh": 1, "session_start_time": 1757235600000}]', 0, NULL)$$),
               E'SubPlan \\d+\n\\s+->  Index Scan using store_external_key on store o\n\\s+Index Cond: \\(\\(namespace = c(_\\d+)?\\.namespace\\) AND \\(kind = ''powerflex''::text\\) AND \\(external_id = c(_\\d+)?\\.external_id\\)\\)',
               'unchanged-row filter, statistics of an empty store: one look-up per row by the whole key');
RESET enable_seqscan;
SELECT doesnt_match(substring(pg_temp.explain($$EXECUTE tap_pf_filtered('[{"session_id": "x", "session_kwh": 1, "session_start_time": 1757235600000}]', 0, NULL)$$)
                              FROM 'CTE up(.*)CTE sites'),
                    'Anti Join|Semi Join|Materialize|Hash Join|Merge Join',
                    'unchanged-row filter, statistics of an empty store: the store write joins nothing (a sub-select per row)');
SELECT results_eq($$EXECUTE tap_pf_filtered(pg_temp.same_rows(20, 30), 0, NULL)$$,
                  $$VALUES (0::bigint, 5::bigint, '[]'::jsonb)$$,
                  'unchanged-row filter, statistics of an empty store: the stored rows still left out');
DEALLOCATE tap_pf_filtered;

-- session_analytics.import_memory_retain (powerflex/import_memory.c; its
-- effect per transaction: test/cli/import_memory.t).
SELECT is(current_setting('session_analytics.import_memory_retain'), '32MB', 'import_memory_retain: 32MB by default');
SELECT throws_ok($$SET LOCAL session_analytics.import_memory_retain = '2GB'$$, '22023', NULL,
                 'import_memory_retain: more than 1GB is refused');
SELECT throws_ok($$SET LOCAL session_analytics.import_memory_retain = -1$$, '22023', NULL,
                 'import_memory_retain: a negative size is refused');

SELECT * FROM finish();
ROLLBACK;
