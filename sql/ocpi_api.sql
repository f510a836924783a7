-- OCPI list paging, charging preferences and a catalogue of refusals.
\set VERBOSITY default
\set d1 `cat test/data/ocpi/2.2.1-d2/session_example_1_simple_start.json`

-- Seven sessions of two parties, last_updated one hour apart (NL-TNM 1..4,
-- BE-BEC 5..7), inserted out of order.
SELECT count(sessions.ocpi_put(cc, pid, 'S' || g,
         jsonb_build_object('country_code', cc, 'party_id', pid, 'id', 'S' || g)
         || (:'d1'::jsonb - 'country_code' - 'party_id' - 'id')
         || jsonb_build_object('last_updated', to_char(timestamptz '2024-05-01 00:00Z' + g * interval '1 hour',
                                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))
  FROM (SELECT g, CASE WHEN g <= 4 THEN 'NL' ELSE 'BE' END AS cc, CASE WHEN g <= 4 THEN 'TNM' ELSE 'BEC' END AS pid
          FROM unnest(ARRAY[3, 1, 7, 2, 5, 4, 6]) g) x;

-- Pages of three, oldest first; total_count counts every match.
SELECT o AS "offset", (SELECT array_agg(e ->> 'id') FROM jsonb_array_elements(l.data) e) AS ids,
       l.total_count, l.is_last_page
  FROM generate_series(0, 9, 3) o, sessions.ocpi_list('2024-05-01 00:00Z', NULL, o, 3) l;
-- Half-open window: [02:00, 05:00) holds S2, S3, S4 but not S5.
SELECT (SELECT array_agg(e ->> 'id') FROM jsonb_array_elements(data) e) AS ids, total_count, is_last_page
  FROM sessions.ocpi_list('2024-05-01 02:00Z', '2024-05-01 05:00Z');
-- An empty window; a party filter (case-insensitive); country or party alone.
SELECT data, total_count, is_last_page FROM sessions.ocpi_list('2030-01-01', NULL);
SELECT (SELECT array_agg(e ->> 'id') FROM jsonb_array_elements(data) e) AS ids, total_count
  FROM sessions.ocpi_list(NULL, NULL, 0, 50, 'be', 'bec');
SELECT total_count FROM sessions.ocpi_list(NULL, country_code => 'NL');
SELECT total_count FROM sessions.ocpi_list(NULL, party_id => 'BEC');
SELECT total_count, is_last_page FROM sessions.ocpi_list(NULL, "limit" => 0);
SELECT * FROM sessions.ocpi_list(NULL, NULL, -1, 10);
SELECT * FROM sessions.ocpi_list('2024-05-02', '2024-05-01');

-- Charging preferences: every ChargingPreferencesResponse.
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 's1', '{"profile_type": "FAST"}') AS fast;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S2',
         '{"profile_type": "CHEAP", "departure_time": "2020-03-09T18:00:00Z", "energy_need": 20.5, "discharge_allowed": false}') AS cheap;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S3', '{"profile_type": "GREEN", "energy_need": 20}') AS green_without_departure;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S3', '{"profile_type": "GREEN", "departure_time": "2020-03-09T18:00:00"}') AS green_without_energy;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S3', '{"profile_type": "TURBO"}') AS unknown_profile;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S3', '{"profile_type": "REGULAR", "departure_time": "2020-03-09T09:00:00Z"}') AS departure_before_start;
SELECT sessions.ocpi_patch('NL', 'TNM', 'S4', '{"status": "COMPLETED", "end_date_time": "2020-03-09T11:00:00Z", "last_updated": "2024-05-01T04:30:00Z"}') ->> 'status' AS s4;
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S4', '{"profile_type": "FAST"}') AS finished_session;
SELECT s.external_id, p.preferences FROM sessions.ocpi_charging_preferences p
  JOIN sessions.store s USING (session_key, namespace) ORDER BY 1;
-- Refused: unknown session, malformed preferences.
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S99', '{"profile_type": "FAST"}');
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S1', '{"departure_time": "2020-03-09T18:00:00Z"}');
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S1', '{"profile_type": "FAST", "energy_need": -1}');
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S1', '{"profile_type": "FAST", "departure_time": "tomorrow"}');
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S1', '{"profile_type": "FAST", "discharge_allowed": "yes"}');
SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', 'S1', NULL);

-- Refusals name the field by its JSON path.
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{charging_periods}',
         '[{"start_date_time": "2020-03-09T10:17:09Z", "dimensions": [{"type": "ENERGY", "volume": 1}]},
           {"start_date_time": "2020-03-09T10:20:00Z", "dimensions": [{"type": "FOO", "volume": 1}]}]'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{charging_periods}',
         '[{"start_date_time": "2020-03-09T10:17:09Z", "dimensions": []}]'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{charging_periods}',
         '[{"start_date_time": "2020-03-09T10:17:09Z", "dimensions": [{"type": "PARKING_TIME", "volume": -0.5}]}]'));
-- Negative volumes where the spec gives them a meaning (EV to grid).
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{charging_periods}',
         '[{"start_date_time": "2020-03-09T10:17:09Z", "dimensions": [{"type": "ENERGY", "volume": -2.5},
           {"type": "POWER", "volume": -11}, {"type": "CURRENT", "volume": -16},
           {"type": "MIN_POWER", "volume": -11}, {"type": "MIN_CURRENT", "volume": -48}]}]')) AS v2g;
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{kwh}', '-0.1'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{id}', to_jsonb(repeat('x', 37))));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{location_id}', '"LOC\u00e91"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{meter_id}', '"line\nbreak"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{currency}', '"EURO"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{status}', '"active"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{auth_method}', 'null'));
SELECT sessions.ocpi_validate(:'d1'::jsonb - 'cdr_token');
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{cdr_token,type}', '"EMAID"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{cdr_token,type}', '"EMAID"') - 'total_cost', '2.3.0') AS emaid_in_230;
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{cdr_token,type}', '"FUTURE_TYPE"') - 'total_cost', '2.3.0') AS open_enum_230;
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{cdr_token,type}', '"not shaped"') - 'total_cost', '2.3.0');
SELECT sessions.ocpi_validate(:'d1'::jsonb || '{"extra": {"any": [1, 2]}}');
SELECT sessions.ocpi_validate(:'d1'::jsonb - 'total_cost' || '{"extra": {"any": [1, 2]}}', '2.3.0') AS unknown_kept_230;
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{end_date_time}', '"2020-03-09T10:00:00Z"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{end_date_time}', 'null')) AS null_optional_is_absent;
-- OCPI DateTime: UTC, 'Z' optional, fractions allowed, at most 25 characters.
SELECT d, (SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{last_updated}', to_jsonb(d)))) AS ok
  FROM unnest(ARRAY['2015-06-29T20:39:09Z', '2015-06-29T20:39:09', '2016-12-29T17:45:09.2Z',
                    '2016-12-29T17:45:09.2', '2018-01-01T01:08:01.123Z', '2024-02-29T23:59:59Z']) d;
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{last_updated}', '"2015-06-29T20:39:09+01:00"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{last_updated}', '"2023-02-29T10:00:00Z"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{last_updated}', '"2015-06-29 20:39:09Z"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{last_updated}', '"2018-01-01T01:08:01.1234567Z"'));
SELECT sessions.ocpi_validate(jsonb_set(:'d1', '{start_date_time}', '1425000000'));
SELECT sessions.ocpi_validate('[1, 2]');
SELECT sessions.ocpi_validate(:'d1', '2.2');
-- The URL keys must match the object's keys; NULL arguments are refused.
SELECT sessions.ocpi_put('NL', 'STK', '102', :'d1');
SELECT sessions.ocpi_put('NL', 'STK', '101', NULL);
SELECT sessions.ocpi_patch('NL', 'TNM', 'S1', '{"id": "S9", "last_updated": "2024-05-01T01:30:00Z"}');
SELECT sessions.ocpi_patch('NL', 'TNM', 'S1', '{"charging_periods": {}, "last_updated": "2024-05-01T01:30:00Z"}');
SELECT sessions.ocpi_patch('NL', 'TNM', 'S1', '"text"');
SELECT count(*) AS sessions, max(last_updated) AS newest FROM sessions.store WHERE kind = 'ocpi';

DELETE FROM sessions.store WHERE kind = 'ocpi';
