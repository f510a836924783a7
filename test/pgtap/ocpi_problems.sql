-- OCPI refusals in the sender's terms (issue 12): every problem of a document
-- in one error, in the order the sender wrote them; DateTime reasons; hints
-- for 2.2 senders and for module calls; charging_preferences inside a 2.3.0
-- Session validated and stored; a PUT into an unmapped party refused with
-- the OCPI status.
BEGIN;
SELECT plan(51);

-- The error of a statement as text: SQLSTATE, message, detail, hint.
CREATE FUNCTION public.tap_e(q text, part text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hin text; ctx text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hin = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN CASE part WHEN 'state' THEN st WHEN 'message' THEN msg WHEN 'detail' THEN det
                     WHEN 'hint' THEN hin ELSE ctx END;
END $$;

-- The OCPI tutorial's session_data (../shared/seeds, "Managing Sessions"), as its JSON text.
CREATE TABLE public.tap_tut (doc text);
INSERT INTO public.tap_tut VALUES ('{
    "country_code": "ES",
    "party_id": "ABC",
    "id": "SESS001",
    "start_date_time": "2024-01-01T10:00:00Z",
    "location_id": "LOC001",
    "evse_uid": "EVSE001",
    "connector_id": "CONN001",
    "kwh": 0.0,
    "currency": "EUR",
    "status": "ACTIVE",
    "last_updated": "2024-01-01T10:00:00Z"
}');
CREATE FUNCTION public.tap_good(extra text DEFAULT '') RETURNS text LANGUAGE sql AS $$
  SELECT '{"country_code": "NL", "party_id": "TNM", "id": "p-1", "start_date_time": "2024-03-01T10:00:00Z",
           "kwh": 1.5, "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID",
           "contract_id": "NL-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
           "connector_id": "1", "currency": "EUR", "status": "ACTIVE"' || extra || ', "last_updated": "2024-03-01T10:05:00Z"}' $$;

-- Every problem at once -------------------------------------------------------
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate((SELECT doc FROM public.tap_tut), '2.3.0')$$, 'message'),
          'invalid OCPI 2.3.0 Session: cdr_token is required', 'tutorial session_data: the message names the first problem');
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate((SELECT doc FROM public.tap_tut), '2.3.0')$$, 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 2 problems: cdr_token is required; auth_method is required.',
          'tutorial session_data: one answer lists both problems');
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate((SELECT doc FROM public.tap_tut)::jsonb, '2.2.1')$$, 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 2 problems: cdr_token is required; auth_method is required.',
          'the same answer from jsonb and under 2.2.1');
SELECT is(public.tap_e($$SELECT sessions.ocpi_put('ES', 'ABC', 'SESS001', (SELECT doc FROM public.tap_tut), '2.3.0')$$, 'state'),
          '22004', 'ocpi_put of the tutorial session_data: SQLSTATE of the first problem');
SELECT is((SELECT count(*) FROM sessions.store WHERE kind = 'ocpi'), 0::bigint, 'and nothing is stored');

-- Document order: the text's, not jsonb's (which puts "id" before "currency").
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate('{"currency": "EURO", "status": "x", "id": "", "kwh": -1}')$$, 'message'),
          'invalid OCPI 2.2.1 Session: currency is longer than 3 characters (string(3))',
          'an untyped literal is the sender''s text: the first member written is named first');
SELECT matches(public.tap_e($$SELECT sessions.ocpi_validate('{"currency": "EURO", "status": "x", "id": "", "kwh": -1}')$$, 'detail'),
          '13 problems: currency is longer than 3 characters \(string\(3\)\); status "x" is not a valid SessionStatus [^;]*; id must not be empty; kwh must not be negative; country_code is required; party_id is required; start_date_time is required; cdr_token is required; auth_method is required; location_id is required; and 3 more\.$',
          'the text''s members in its order, then missing fields in OCPI order, ten listed and the rest counted');
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate('{"currency": "EURO", "status": "x", "id": "", "kwh": -1}'::jsonb)$$, 'message'),
          'invalid OCPI 2.2.1 Session: country_code is required',
          'jsonb has no text order: the OCPI field order');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L::text)$$,
              replace(public.tap_good(), '"kwh": 1.5', '"charging_periods": [{"start_date_time": "2024-03-01T10:00:00Z", "dimensions": [{"volume": -1, "type": "TIME"}]}], "kwh": -2')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 2 problems: charging_periods[0].dimensions[0].volume must not be negative for dimension type "TIME"; kwh must not be negative.',
          'nested problems take the place of their member in the text');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$, replace(public.tap_good(), '"kwh": 1.5', '"kwh": "x", "kwh": 2')), 'message'),
          'no error', 'a duplicate key: the last one counts, as in jsonb');
-- Hundreds of problems: counted, ten listed, every part bounded.
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
              replace(public.tap_good(), '"kwh": 1.5', '"charging_periods": [' ||
                      (SELECT string_agg('{"start_date_time": "x", "dimensions": [{"type": "Y", "volume": -1}]}', ', ') FROM generate_series(1, 300)) ||
                      '], "kwh": 1.5')), 'message'),
          'invalid OCPI 2.2.1 Session: charging_periods[0].start_date_time "x" is not an OCPI DateTime: it does not have the form YYYY-MM-DDThh:mm:ss[.fraction][Z] (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z)',
          '600 problems: the first element''s first member is named');
SELECT ok((SELECT d LIKE '%600 problems: %; and % more.' AND octet_length(d) < 1000
             FROM public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
              replace(public.tap_good(), '"kwh": 1.5', '"charging_periods": [' ||
                      (SELECT string_agg('{"start_date_time": "x", "dimensions": [{"type": "Y", "volume": -1}]}', ', ') FROM generate_series(1, 300)) ||
                      '], "kwh": 1.5')), 'detail') d),
          '600 problems: the detail counts them all and stays under 1000 bytes');
SELECT is(public.tap_e($$SELECT sessions.ocpi_validate('{"kwh": 1,}')$$, 'state'), '22P02', 'text that is not JSON: jsonb''s own error');

-- Unknown members sort among the known ones in jsonb's key order (shorter
-- first, then bytewise): before the shortest field, between fields of one
-- length, after the longest. Each is named once, and every field around it is
-- still found and checked.
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L::jsonb)$$,
              replace(public.tap_good(), '"kwh": 1.5', '"a": 1, "ie": 2, "kwh": -1, "kwi": 3, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz": 4')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 5 problems: kwh must not be negative; a is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); ie is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); kwi is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1).',
          'jsonb: unknown members around and between the fields are each named, the field between them still checked');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
              replace(public.tap_good(), '"kwh": 1.5', '"a": 1, "ie": 2, "kwh": -1, "kwi": 3')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 4 problems: a is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); ie is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); kwh must not be negative; kwi is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1).',
          'text: the same problems in the order written');
SELECT is(sessions.ocpi_validate(replace(public.tap_good(), '"kwh": 1.5', '"kwh": 1.5, "cdr_tokens": 1, "evse_ui": 2, "idd": 3')::jsonb, '2.3.0'), true,
          '2.3.0: names one letter off a field (longer, shorter, same length) are unknown members, and every field is still found');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L::jsonb)$$,
              replace(replace(public.tap_good(), '"kwh": 1.5', '"kwh": 1.5, "cdr_tokens": 1, "evse_ui": 2, "idd": 3'), '"status": "ACTIVE"', '"status": "ACTIV"')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 4 problems: status "ACTIV" is not a valid SessionStatus (ACTIVE, COMPLETED, INVALID, PENDING, RESERVATION); idd is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); evse_ui is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1); cdr_tokens is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1).',
          'and under 2.2.1 each is named, with an enum value one letter short refused');

-- URL keys are compared even when the object has other problems.
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_put('NL', 'TNM', 'p-2', %L)$$, replace(public.tap_good(), '"kwh": 1.5', '"kwh": -1')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 2 problems: id "p-1" does not match the id of the request; kwh must not be negative.',
          'a PUT lists a URL key mismatch with the object''s problems, in document order');

-- DateTime: why this value fails ---------------------------------------------
CREATE FUNCTION public.tap_dt(v text) RETURNS text LANGUAGE sql AS $f$
  SELECT public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$, replace(public.tap_good(), '"2024-03-01T10:05:00Z"', to_jsonb(v)::text)), 'message') $f$;
SELECT is(public.tap_dt('2018-01-01T01:08:01.1234567'),
          'invalid OCPI 2.2.1 Session: last_updated "2018-01-01T01:08:01.1234567" is not an OCPI DateTime: 27 characters, at most 25 (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z)',
          'too long: its length and the limit');
SELECT matches(public.tap_dt('2015-06-29T20:39:09+00:00'), 'has the UTC offset \+00:00, but OCPI DateTimes are UTC: end in ''Z'' or in nothing \("\+00:00 is not the same as UTC"\)',
               '+00:00: an offset, and the spec''s note');
SELECT matches(public.tap_dt('2015-06-29T20:39:09-05:00'), 'has the UTC offset -05:00', 'another offset is named');
SELECT matches(public.tap_dt('2015-06-29 20:39:09Z'), 'separated by an upper-case ''T''', 'a space for the T');
SELECT matches(public.tap_dt('2023-02-29T10:00:00Z'), 'day 29 does not exist in 2023-02', 'a day that does not exist');
SELECT matches(public.tap_dt('2023-13-01T10:00:00Z'), 'month 13 does not exist', 'a month that does not exist');
SELECT matches(public.tap_dt('2023-12-01T24:00:00Z'), 'hour 24 does not exist', 'an hour that does not exist');
SELECT matches(public.tap_dt('2016-12-31T23:59:60Z'), 'second 60 is not accepted', 'a leap second');
SELECT matches(public.tap_dt('2016-12-31T23:59:59.Z'), '''\.'' must be followed by the digits', 'a fraction without digits');
SELECT matches(public.tap_dt('2016-12-31T23:59:59z'), 'upper-case ''Z''', 'a lower-case z');
SELECT matches(public.tap_dt('yesterday'), 'it does not have the form YYYY-MM-DDThh:mm:ss', 'no DateTime at all');

-- Hints: a 2.2 sender, module calls and extras -----------------------------------
SELECT matches(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
                  replace(public.tap_good(), '"country_code": "NL", "party_id": "TST", ', '')), 'hint'),
               '^cdr_token\.country_code and cdr_token\.party_id are new in OCPI 2\.2\.1 \(a 2\.2 CdrToken has neither\)',
               'a 2.2 CdrToken: the hint says the fields are new in 2.2.1');
SELECT matches(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
                  public.tap_good(', "charging_preferences": {"profile_type": "FAST"}')), 'hint'),
               'sessions\.ocpi_put_charging_preferences\(country_code, party_id, session_id, preferences\)',
               '2.2.1 charging_preferences: the hint points to ocpi_put_charging_preferences');
SELECT matches(public.tap_e(format($$SELECT sessions.ocpi_validate(%L)$$,
                  public.tap_good(', "meter_value": []')), 'hint'),
               '^meter_value is not an OCPI Session field', '2.2.1 meter_value: the hint says where readings go');
SELECT is(sessions.ocpi_validate(public.tap_good(', "meter_value": [{"timestamp": "2024-01-01T10:00:00Z"}]'), '2.3.0'), true,
          '2.3.0 keeps meter_value as an unknown member');

-- charging_preferences inside a 2.3.0 Session ------------------------------------
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L, '2.3.0')$$,
                  public.tap_good(', "charging_preferences": {"profile_type": "FAST", "energy_need": -5}')), 'message'),
          'invalid OCPI 2.3.0 Session: charging_preferences.energy_need must not be negative',
          '2.3.0 charging_preferences are validated as ChargingPreferences');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_validate(%L, '2.3.0')$$,
                  public.tap_good(', "charging_preferences": {"departure_time": "soon"}')), 'detail'),
          'OCPI status code 2001 (Invalid or missing parameters). 2 problems: charging_preferences.departure_time "soon" is not an OCPI DateTime: it does not have the form YYYY-MM-DDThh:mm:ss[.fraction][Z] (RFC 3339 in UTC, at most 25 characters, e.g. 2015-06-29T20:39:09Z); charging_preferences.profile_type is required.',
          'every problem of the preferences is listed');
SELECT is(sessions.ocpi_put('NL', 'TNM', 'p-1',
              public.tap_good(', "charging_preferences": {"profile_type": "CHEAP", "departure_time": "2024-03-01T18:00:00Z", "energy_need": 20}'), '2.3.0')
            -> 'charging_preferences' ->> 'profile_type', 'CHEAP', 'a 2.3.0 PUT with valid preferences is stored');
SELECT is((SELECT p.preferences FROM sessions.ocpi_charging_preferences p JOIN sessions.store s USING (session_key, namespace)
            WHERE s.external_id = 'P-1'),
          '{"profile_type": "CHEAP", "departure_time": "2024-03-01T18:00:00Z", "energy_need": 20}'::jsonb,
          'its preferences are stored as ocpi_put_charging_preferences stores them');
SELECT is(sessions.ocpi_put_charging_preferences('NL', 'TNM', 'p-1', '{"profile_type": "FAST"}'), 'ACCEPTED', 'later preferences replace them');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'p-1') -> 'charging_preferences' ->> 'profile_type', 'CHEAP',
          'ocpi_get returns the Session as stored');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'p-1', with_preferences => true) -> 'charging_preferences', '{"profile_type": "FAST"}'::jsonb,
          'ocpi_get with_preferences returns it with the stored preferences');
SELECT is(public.tap_e(format($$SELECT sessions.ocpi_put('NL', 'TNM', 'p-1', %L, '2.3.0')$$,
                  public.tap_good(', "charging_preferences": {"profile_type": "GREEN", "energy_need": 20}')), 'message'),
          'invalid OCPI 2.3.0 Session: charging_preferences are not accepted (DEPARTURE_REQUIRED)',
          'preferences ocpi_put_charging_preferences would not accept refuse the PUT');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'p-1', true) -> 'charging_preferences', '{"profile_type": "FAST"}'::jsonb,
          'and nothing of it was stored');
SELECT is(sessions.ocpi_patch('NL', 'TNM', 'p-1', '{"charging_preferences": {"profile_type": "REGULAR"}, "last_updated": "2024-03-01T10:06:00Z"}')
            -> 'charging_preferences', '{"profile_type": "REGULAR"}'::jsonb, 'a PATCH of a 2.3.0 Session may carry preferences');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'p-1', true) -> 'charging_preferences', '{"profile_type": "REGULAR"}'::jsonb,
          'and they are stored');
SELECT is(sessions.ocpi_put('NL', 'TNM', 'p-1',
              replace(public.tap_good(', "charging_preferences": {"profile_type": "TURBO"}'), '"ACTIVE"', '"COMPLETED"'), '2.3.0') ->> 'status',
          'COMPLETED', 'a finished session is stored with its preferences in the document ...');
SELECT is(sessions.ocpi_get('NL', 'TNM', 'p-1', true) -> 'charging_preferences', '{"profile_type": "REGULAR"}'::jsonb,
          '... but they are not stored as preferences (nothing to steer)');

-- A PUT into a party the role is not mapped to ---------------------------------------
CREATE ROLE sa_tap_problems_nl LOGIN IN ROLE session_analytics_writer;
INSERT INTO sessions.role_namespace VALUES ('sa_tap_problems_nl', 'NL-TNM');
CREATE TABLE public.tap_err_out AS SELECT ''::text AS part, ''::text AS v LIMIT 0;
GRANT ALL ON public.tap_err_out, public.tap_tut TO PUBLIC;
SET LOCAL ROLE sa_tap_problems_nl;
INSERT INTO public.tap_err_out
SELECT p, public.tap_e(format($$SELECT sessions.ocpi_put('DE', 'BBB', 'p-1', %L)$$,
                  replace(replace(public.tap_good(), '"NL", "party_id": "TNM"', '"DE", "party_id": "BBB"'), '"kwh": 1.5', '"kwh": -1')), p)
  FROM unnest(ARRAY['state', 'message', 'detail', 'hint', 'context']) p;
RESET ROLE;
SELECT is((SELECT v FROM public.tap_err_out WHERE part = 'state'), '42501', 'unmapped party: 42501, before validation');
SELECT is((SELECT v FROM public.tap_err_out WHERE part = 'message'),
          'OCPI party country_code "DE", party_id "BBB" is not mapped to role "sa_tap_problems_nl"', 'the message names the party and the role');
SELECT is((SELECT v FROM public.tap_err_out WHERE part = 'detail'), 'OCPI status code 2000 (Generic client error), HTTP 403.',
          'the detail carries the OCPI status');
SELECT is((SELECT v FROM public.tap_err_out WHERE part = 'hint'),
          'The extension''s owner maps it: INSERT INTO sessions.role_namespace (role_name, namespace) VALUES (''sa_tap_problems_nl'', ''DE-BBB''); nothing was stored.',
          'the hint says how to map the role');
SELECT ok((SELECT v NOT LIKE '%INSERT INTO sessions.store%' AND v NOT LIKE '%row-level security%' FROM public.tap_err_out WHERE part = 'context'),
          'no internal statement in the context');

SELECT * FROM finish();
ROLLBACK;
