-- OCPI error text: every user value a message echoes is bounded (64
-- characters of a key or URL key, 40 of a value, cut on a character
-- boundary, "..." when cut, control characters as '?'), and every JSON path
-- names each step, also keys that are empty or not plain names.
BEGIN;
SELECT plan(22);

CREATE FUNCTION public.tap_err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END $$;
CREATE FUNCTION public.tap_doc(patch jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT '{"country_code": "NL", "party_id": "TNM", "id": "m-1", "start_date_time": "2024-03-01T10:00:00Z",
           "kwh": 1.5, "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID",
           "contract_id": "NL-TST-C1"}, "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
           "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": "2024-03-01T10:05:00Z"}'::jsonb || patch $$;

-- URL keys: ocpi_patch and ocpi_put_charging_preferences not found ------------
SELECT throws_ok(format($$SELECT sessions.ocpi_patch('NL', 'TNM', %L, '{"last_updated": "2024-03-01T12:00:00Z"}')$$, repeat('A', 10000)),
                 'P0002', 'OCPI session NL/TNM/' || repeat('A', 64) || '... not found',
                 'PATCH of an unknown 10,000-byte id: the id is cut after 64 characters');
SELECT throws_ok(format($$SELECT sessions.ocpi_patch(%L, %L, 'x', '{"last_updated": "2024-03-01T12:00:00Z"}')$$, repeat('c', 65), repeat('p', 64)),
                 'P0002', 'OCPI session ' || repeat('c', 64) || '.../' || repeat('p', 64) || '/x not found',
                 'PATCH: every URL key is cut, 64 characters are kept whole');
SELECT throws_ok(format($$SELECT sessions.ocpi_patch('NL', 'TNM', %L, '{"last_updated": "2024-03-01T12:00:00Z"}')$$, repeat('é€', 50)),
                 'P0002', 'OCPI session NL/TNM/' || repeat('é€', 32) || '... not found',
                 'PATCH: a multibyte id is cut on a character boundary');
SELECT throws_ok(format($$SELECT sessions.ocpi_patch('NL', 'TNM', %L, '{"last_updated": "2024-03-01T12:00:00Z"}')$$, E'a\nb\tc'),
                 'P0002', 'OCPI session NL/TNM/a?b?c not found',
                 'PATCH: control characters of an id are not echoed');
SELECT throws_ok(format($$SELECT sessions.ocpi_put_charging_preferences('NL', 'TNM', %L, '{"profile_type": "FAST"}')$$, repeat('B', 10000)),
                 'P0002', 'OCPI session NL/TNM/' || repeat('B', 64) || '... not found',
                 'preferences of an unknown 10,000-byte id: the id is cut after 64 characters');
SELECT throws_ok(format($$SELECT sessions.ocpi_validate('{}', %L)$$, repeat('9', 5000)),
                 '22023', 'unsupported OCPI version "' || repeat('9', 64) || '..."',
                 'an unsupported 5,000-byte version is cut after 64 characters');

-- JSON paths: keys that are not plain names are quoted ------------------------
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"": 1}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: [""] is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'an empty member name is shown as [""]');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID", "contract_id": "NL-TST-C1", "": 1}}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: cdr_token[""] is not a field of CdrToken in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'a nested empty member name is shown as cdr_token[""]');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "U1", "type": "RFID", "contract_id": "NL-TST-C1", "a.b c": 1}}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: cdr_token["a.b c"] is not a field of CdrToken in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'a key with a dot and a space is quoted, not joined with dots');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"q\"\\": 1}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: ["q\"\\"] is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'quotes and backslashes in a key are escaped');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"a\u0001b": 1}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: ["a?b"] is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'control characters in a key are shown as ?');
SELECT is(public.tap_err(format($$SELECT sessions.ocpi_validate(public.tap_doc(jsonb_build_object(%L, 1)), '2.2.1')$$, repeat('k', 10000))),
          'invalid OCPI 2.2.1 Session: ' || repeat('k', 64) || '... is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'a 10,000-byte key is cut after 64 characters');
SELECT is(public.tap_err(format($$SELECT sessions.ocpi_validate(public.tap_doc(jsonb_build_object(%L, 1)), '2.2.1')$$, repeat('ü', 100))),
          'invalid OCPI 2.2.1 Session: ["' || repeat('ü', 64) || '..."] is not a field of Session in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'a multibyte key is quoted and cut on a character boundary');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"charging_periods": [{"start_date_time": "2024-03-01T10:00:00Z", "dimensions": [{"type": "ENERGY", "volume": 1, "x y": 2}]}]}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: charging_periods[0].dimensions[0]["x y"] is not a field of CdrDimension in OCPI 2.2.1 (unknown fields are refused in 2.2.1)',
          'a quoted key after array steps');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"kwh": "1"}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: kwh must be a number, not string',
          'plain keys stay bare');

-- Values: quoted, cut after 40 characters -------------------------------------
SELECT is(public.tap_err(format($$SELECT sessions.ocpi_validate(public.tap_doc(jsonb_build_object('status', %L)), '2.2.1')$$, repeat('Z', 10000))),
          'invalid OCPI 2.2.1 Session: status "' || repeat('Z', 40) || '..." is not a valid SessionStatus (ACTIVE, COMPLETED, INVALID, PENDING, RESERVATION)',
          'a 10,000-byte enum value is cut after 40 characters');
SELECT is(public.tap_err(format($$SELECT sessions.ocpi_validate(public.tap_doc(jsonb_build_object('status', %L)), '2.2.1')$$, repeat('€', 50))),
          'invalid OCPI 2.2.1 Session: status "' || repeat('€', 40) || '..." is not a valid SessionStatus (ACTIVE, COMPLETED, INVALID, PENDING, RESERVATION)',
          'a multibyte value keeps whole characters');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"status": "a\"b\u007f"}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: status "a\"b?" is not a valid SessionStatus (ACTIVE, COMPLETED, INVALID, PENDING, RESERVATION)',
          'a quote in a value is escaped, DEL shown as ?');
SELECT is(public.tap_err($$SELECT sessions.ocpi_validate(public.tap_doc('{"status": "\u0085X"}'), '2.2.1')$$),
          'invalid OCPI 2.2.1 Session: status "?X" is not a valid SessionStatus (ACTIVE, COMPLETED, INVALID, PENDING, RESERVATION)',
          'a C1 control character in a value is shown as ?');
SELECT is(public.tap_err(format($$SELECT sessions.ocpi_put('NL', 'TNM', 'm-1', public.tap_doc(jsonb_build_object('id', %L)))$$, repeat('I', 36))),
          'invalid OCPI 2.2.1 Session: id "' || repeat('I', 36) || '" does not match the id of the request',
          'a value of 36 characters is shown whole');

-- Bounded whatever the input ---------------------------------------------------
SELECT cmp_ok((SELECT max(length(public.tap_err(format($$SELECT sessions.ocpi_validate(public.tap_doc(jsonb_build_object(%L, %L)), '2.3.0')$$, k, v))))
                 FROM (VALUES ('status', repeat('x', 100000)), ('start_date_time', repeat('9', 100000)),
                              ('currency', repeat('€', 100000)), ('cdr_token', repeat('y', 100000))) AS t(k, v)),
              '<', 400, 'messages for 100,000-character values stay short');
SELECT is((SELECT count(*) FROM sessions.store), 0::bigint, 'nothing was stored');

SELECT * FROM finish();
ROLLBACK;
