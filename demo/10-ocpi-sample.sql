-- OCPI sample: the official example Sessions (2.2.1-d2 and 2.3.0) and a few
-- hundred generated sessions of several parties, statuses and days, all
-- through the OCPI API (PUT, then PATCHes that append charging periods).
\set d2 `cat test/data/ocpi/2.2.1-d2/session_example_2_short_finished.json`
\set t1 `cat test/data/ocpi/2.3.0/session_example_1_simple_start.json`
\set tp_period `cat test/data/ocpi/2.3.0/session_patch_example_charging_period.json`
\set o1 `cat test/data/ocpi/2.2.1/session_example_1_simple_start.json`

\echo
\echo '== OCPI: the official examples'
SELECT sessions.ocpi_put('BE', 'BEC', '101', :'d2', '2.2.1') ->> 'status' AS "PUT 2.2.1-d2 example 2";
SELECT sessions.ocpi_put('NL', 'STK', '101', :'t1', '2.3.0') ->> 'status' AS "PUT 2.3.0 example 1";
SELECT jsonb_array_length(sessions.ocpi_patch('NL', 'STK', '101', :'tp_period') -> 'charging_periods') AS "PATCH 2.3.0: periods now";
\echo 'The original 2.2.1 example lacks cdr_token.country_code and party_id, so strict 2.2.1 validation refuses it:'
SELECT set_config('demo.o1', :'o1', false) \g /dev/null
DO $$
BEGIN
  PERFORM sessions.ocpi_put('NL', 'STK', '101', current_setting('demo.o1')::jsonb);
EXCEPTION WHEN data_exception THEN
  RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;

-- Generated: 5 parties x 80 sessions over 7 days. Every session is PUT as
-- ACTIVE (or RESERVATION/PENDING), gets 1-4 charging periods by PATCH, and
-- most are then completed by PATCH; a few are INVALID.
SELECT setseed(0.15) \g /dev/null
CREATE TEMP TABLE demo_gen AS
SELECT p.cc, p.pid, 'S' || lpad(g::text, 4, '0') AS id,
       timestamptz '2025-03-03 06:00Z' + (g % 7) * interval '1 day' + (g * 37 % 840) * interval '1 min' AS t0,
       1 + g % 4 AS periods, round((3 + random() * 50)::numeric, 2) AS kwh,
       CASE WHEN g % 23 = 0 THEN 'INVALID' WHEN g % 9 = 0 THEN 'ACTIVE' WHEN g % 31 = 0 THEN 'PENDING' ELSE 'COMPLETED' END AS final
  FROM (VALUES ('NL', 'TNM'), ('NL', 'ALL'), ('BE', 'BEC'), ('DE', 'ION'), ('FR', 'TOT')) p(cc, pid),
       generate_series(1, 80) g;

SELECT count(sessions.ocpi_put(cc, pid, id, jsonb_build_object(
         'country_code', cc, 'party_id', pid, 'id', id,
         'start_date_time', to_char(t0, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'kwh', 0,
         'cdr_token', jsonb_build_object('country_code', cc, 'party_id', pid, 'uid', 'RFID' || (abs(hashtext(id)) % 500),
                                         'type', 'RFID', 'contract_id', cc || '-' || pid || '-C' || (abs(hashtext(id)) % 500)),
         'auth_method', 'WHITELIST', 'location_id', 'LOC-' || cc || (abs(hashtext(id || 'l')) % 12),
         'evse_uid', 'EVSE-' || (abs(hashtext(id || 'e')) % 40), 'connector_id', (1 + abs(hashtext(id)) % 2)::text,
         'currency', 'EUR', 'status', CASE WHEN final = 'PENDING' THEN 'PENDING' ELSE 'ACTIVE' END,
         'last_updated', to_char(t0, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')), '2.2.1')) AS "generated sessions PUT"
  FROM demo_gen;

SELECT count(sessions.ocpi_patch(cc, pid, id, jsonb_build_object(
         'kwh', round(kwh * k / periods, 2),
         'charging_periods', jsonb_build_array(jsonb_build_object(
             'start_date_time', to_char(t0 + (k - 1) * interval '20 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'dimensions', jsonb_build_array(jsonb_build_object('type', 'ENERGY', 'volume', round(kwh / periods, 2)),
                                             jsonb_build_object('type', 'TIME', 'volume', 0.333)))),
         'total_cost', jsonb_build_object('excl_vat', round(kwh * k / periods * 0.35, 2), 'incl_vat', round(kwh * k / periods * 0.42, 2)),
         'last_updated', to_char(t0 + k * interval '20 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) AS "PATCHes appending periods"
  FROM demo_gen, generate_series(1, 4) k
 WHERE k <= periods AND final <> 'PENDING';

SELECT count(sessions.ocpi_patch(cc, pid, id, jsonb_build_object(
         'status', final, 'end_date_time', to_char(t0 + periods * interval '20 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'last_updated', to_char(t0 + periods * interval '20 min' + interval '1 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))) AS "sessions ended"
  FROM demo_gen WHERE final IN ('COMPLETED', 'INVALID');

SELECT sessions.ocpi_put_charging_preferences(cc, pid, id,
         '{"profile_type": "CHEAP", "departure_time": "2025-03-10T18:00:00Z", "energy_need": 30}') AS "charging preferences", count(*)
  FROM demo_gen WHERE id IN ('S0009', 'S0018', 'S0001') GROUP BY 1 ORDER BY 1;

\echo
\echo '== OCPI sessions by party and status'
SELECT namespace AS party, status, count(*) AS sessions, round(sum(kwh)::numeric, 1) AS kwh,
       round(avg(jsonb_array_length(coalesce(doc -> 'charging_periods', '[]'))), 1) AS avg_periods,
       min(started_at)::date AS first_day, max(started_at)::date AS last_day
  FROM sessions.store WHERE kind = 'ocpi'
 GROUP BY namespace, status ORDER BY namespace, status;

\echo
\echo '== OCPI sessions per day'
SELECT started_at::date AS day, count(*) AS sessions, count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
       round(sum(kwh)::numeric, 1) AS kwh, round(sum((doc -> 'total_cost' ->> 'incl_vat')::numeric), 2) AS eur_incl_vat
  FROM sessions.store WHERE kind = 'ocpi' GROUP BY 1 ORDER BY 1;

\echo
\echo '== First page of GET /sessions?date_from=2025-03-09&limit=10 (oldest last_updated first)'
SELECT e ->> 'country_code' || '-' || (e ->> 'party_id') AS party, e ->> 'id' AS id, e ->> 'status' AS status,
       e ->> 'start_date_time' AS start, e ->> 'end_date_time' AS "end", e ->> 'kwh' AS kwh,
       jsonb_array_length(coalesce(e -> 'charging_periods', '[]')) AS periods, e ->> 'last_updated' AS last_updated
  FROM sessions.ocpi_list('2025-03-09', NULL, 0, 10) l, jsonb_array_elements(l.data) e;
SELECT total_count, is_last_page FROM sessions.ocpi_list('2025-03-09', NULL, 0, 10);
