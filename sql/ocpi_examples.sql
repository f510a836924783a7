-- The official OCPI Sessions examples (test/data/ocpi, copied byte for byte
-- from the specification repository; see SOURCE.md there).
\set VERBOSITY default
\set o1 `cat test/data/ocpi/2.2.1/session_example_1_simple_start.json`
\set o2 `cat test/data/ocpi/2.2.1/session_example_2_short_finished.json`
\set op_cost `cat test/data/ocpi/2.2.1/session_patch_example_total_cost.json`
\set op_period `cat test/data/ocpi/2.2.1/session_patch_example_charging_period.json`
\set d1 `cat test/data/ocpi/2.2.1-d2/session_example_1_simple_start.json`
\set d2 `cat test/data/ocpi/2.2.1-d2/session_example_2_short_finished.json`
\set dp_cost `cat test/data/ocpi/2.2.1-d2/session_patch_example_total_cost.json`
\set dp_period `cat test/data/ocpi/2.2.1-d2/session_patch_example_charging_period.json`
\set t1 `cat test/data/ocpi/2.3.0/session_example_1_simple_start.json`
\set t2 `cat test/data/ocpi/2.3.0/session_example_2_short_finished.json`
\set tp_cost `cat test/data/ocpi/2.3.0/session_patch_example_total_cost.json`
\set tp_period `cat test/data/ocpi/2.3.0/session_patch_example_charging_period.json`

-- The original 2.2.1 examples lack cdr_token.country_code/party_id: strict
-- 2.2.1 validation refuses them, and a refused PUT stores nothing.
SELECT sessions.ocpi_validate(:'o1', '2.2.1');
SELECT sessions.ocpi_validate(:'o2', '2.2.1');
SELECT sessions.ocpi_put('NL', 'STK', '101', :'o1');
SELECT count(*) AS stored FROM sessions.store WHERE kind = 'ocpi';

-- 2.2.1-d2 examples are valid 2.2.1, 2.3.0 examples valid 2.3.0; each is
-- refused under the other version because Price changed shape.
SELECT sessions.ocpi_validate(:'d1', '2.2.1') AS d1, sessions.ocpi_validate(:'d2', '2.2.1') AS d2,
       sessions.ocpi_validate(:'t1', '2.3.0') AS t1, sessions.ocpi_validate(:'t2', '2.3.0') AS t2;
SELECT sessions.ocpi_validate(:'d2', '2.3.0');
SELECT sessions.ocpi_validate(:'t2', '2.2.1');

-- PUT -> GET returns exactly what was stored.
SELECT sessions.ocpi_put('NL', 'STK', '101', :'d1') = :'d1'::jsonb AS put_returns_object;
SELECT sessions.ocpi_put('BE', 'BEC', '101', :'d2', '2.2.1') = :'d2'::jsonb AS put_returns_object;
SELECT sessions.ocpi_get('NL', 'STK', '101') = :'d1'::jsonb AS d1_round_trip,
       sessions.ocpi_get('BE', 'BEC', '101') = :'d2'::jsonb AS d2_round_trip,
       sessions.ocpi_get('be', 'bec', '101') = :'d2'::jsonb AS case_insensitive_keys,
       sessions.ocpi_get('NL', 'STK', '102') IS NULL AS unknown_is_null;
SELECT namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, evse, connector, last_updated
  FROM sessions.store WHERE kind = 'ocpi' ORDER BY namespace;

-- PATCH examples on the running session: total_cost replaced whole ...
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'dp_cost') -> 'total_cost' AS total_cost;
-- ... then a charging period appended, kwh and total_cost replaced.
SELECT p -> 'kwh' AS kwh, p -> 'total_cost' AS total_cost, jsonb_array_length(p -> 'charging_periods') AS periods,
       p ->> 'last_updated' AS last_updated
  FROM sessions.ocpi_patch('NL', 'STK', '101', :'dp_period') p;
-- Sending the same period again appends it again (PATCH appends, never replaces).
SELECT jsonb_array_length(sessions.ocpi_patch('NL', 'STK', '101', :'dp_period') -> 'charging_periods') AS periods;
-- An empty list changes nothing; other fields stay.
SELECT jsonb_array_length(p -> 'charging_periods') AS periods, p ->> 'status' AS status, p ->> 'location_id' AS location
  FROM sessions.ocpi_patch('NL', 'STK', '101', '{"charging_periods": [], "last_updated": "2020-03-09T10:30:00Z"}') p;
SELECT kwh, last_updated FROM sessions.store WHERE namespace = 'NL-STK' AND external_id = '101';
-- The original 2.2.1 PATCH bodies are the same files as in 2.2.1-d2.
SELECT :'op_cost'::jsonb = :'dp_cost'::jsonb AS same_cost_patch, :'op_period'::jsonb = :'dp_period'::jsonb AS same_period_patch;
-- A PATCH without last_updated is refused; so is a 2.3.0 Price on a 2.2.1 session.
SELECT sessions.ocpi_patch('NL', 'STK', '101', '{"kwh": 16}');
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'tp_cost');
SELECT sessions.ocpi_patch('NL', 'STK', '999', :'dp_cost');

-- The 2.3.0 examples under 2.3.0, PUT replacing the 2.2.1 objects (and their
-- stored charging periods) whole.
SELECT sessions.ocpi_put('NL', 'STK', '101', :'t1', '2.3.0') = :'t1'::jsonb AS put_returns_object;
SELECT sessions.ocpi_put('BE', 'BEC', '101', :'t2', '2.3.0') = :'t2'::jsonb AS put_returns_object;
SELECT sessions.ocpi_get('NL', 'STK', '101') = :'t1'::jsonb AS t1_round_trip,
       sessions.ocpi_get('BE', 'BEC', '101') = :'t2'::jsonb AS t2_round_trip;
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'tp_cost') -> 'total_cost' AS total_cost;
SELECT p -> 'total_cost' AS total_cost, jsonb_array_length(p -> 'charging_periods') AS periods
  FROM sessions.ocpi_patch('NL', 'STK', '101', :'tp_period') p;
-- ... and a 2.2.1 Price is refused on a 2.3.0 session.
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'dp_cost');

-- A COMPLETED session cannot become ACTIVE again (PUT or PATCH).
SELECT sessions.ocpi_put('BE', 'BEC', '101', jsonb_set(:'t2', '{status}', '"ACTIVE"'), '2.3.0');
SELECT sessions.ocpi_patch('BE', 'BEC', '101', '{"status": "ACTIVE", "last_updated": "2015-06-29T23:59:00Z"}');
SELECT status FROM sessions.store WHERE namespace = 'BE-BEC';

DELETE FROM sessions.store WHERE kind = 'ocpi';
