-- Concurrent PATCHes of one session from several connections (dblink) lose
-- no appended charging period; concurrent PUTs of one new session make one row.
BEGIN;
SELECT plan(7);

CREATE FUNCTION public.tap_conninfo() RETURNS text LANGUAGE sql AS $$
  SELECT format('dbname=%s host=%s port=%s user=postgres', current_database(),
                split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'))
$$;
CREATE FUNCTION public.tap_session(id text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('country_code', 'NL', 'party_id', 'TNM', 'id', id,
    'start_date_time', '2024-04-01T08:00:00Z', 'kwh', 0,
    'cdr_token', jsonb_build_object('country_code', 'NL', 'party_id', 'TST', 'uid', 'U1', 'type', 'RFID', 'contract_id', 'C1'),
    'auth_method', 'WHITELIST', 'location_id', 'L1', 'evse_uid', 'E1', 'connector_id', '1', 'currency', 'EUR',
    'charging_periods', jsonb_build_array(jsonb_build_object('start_date_time', '2024-04-01T08:00:00Z',
        'dimensions', jsonb_build_array(jsonb_build_object('type', 'ENERGY', 'volume', 0)))),
    'status', 'ACTIVE', 'last_updated', '2024-04-01T08:00:00Z')
$$;

-- The session must be committed for the other connections to see it.
SELECT dblink_connect('setup', public.tap_conninfo());
SELECT is((SELECT x FROM dblink('setup', format('SELECT sessions.ocpi_put(%L, %L, %L, %L) ->> %L',
                                 'NL', 'TNM', 'conc-1', public.tap_session('conc-1'), 'id')) AS t(x text)),
          'conc-1', 'session committed through another connection');

-- Four connections append 25 periods each, one PATCH per transaction.
SELECT dblink_connect('c' || n, public.tap_conninfo()) FROM generate_series(1, 4) n;
SELECT dblink_send_query('c' || n, replace($q$
  DO $d$
  BEGIN
    FOR i IN 1..25 LOOP
      PERFORM sessions.ocpi_patch('NL', 'TNM', 'CONC-1', jsonb_build_object(
        'last_updated', to_char(timestamptz '2024-04-01 09:00Z' + i * interval '1 s', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'kwh', i,
        'charging_periods', jsonb_build_array(jsonb_build_object(
          'start_date_time', to_char(timestamptz '2024-04-01 09:00Z' + i * interval '1 s', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
          'dimensions', jsonb_build_array(jsonb_build_object('type', 'ENERGY', 'volume', CONN * 1000 + i))))));
      COMMIT;
    END LOOP;
  END
  $d$$q$, 'CONN', n::text))
  FROM generate_series(1, 4) n;
SELECT is((SELECT array_agg(s ORDER BY n) FROM generate_series(1, 4) n, dblink_get_result('c' || n) AS t(s text)),
          ARRAY['DO', 'DO', 'DO', 'DO'], 'all four connections finished without error');
-- An asynchronous query is done once its result set comes back empty.
SELECT count(*) FROM generate_series(1, 4) n, dblink_get_result('c' || n) AS t(s text);

SELECT is((SELECT jsonb_array_length(doc -> 'charging_periods') FROM sessions.store
            WHERE namespace = 'NL-TNM' AND external_id = 'CONC-1'),
          101, 'every appended period is there (1 + 4 x 25)');
SELECT is((SELECT count(DISTINCT (p -> 'dimensions' -> 0 ->> 'volume')::int)
             FROM sessions.store, jsonb_array_elements(doc -> 'charging_periods') p
            WHERE namespace = 'NL-TNM' AND external_id = 'CONC-1'),
          101::bigint, '... each exactly once');
SELECT ok(sessions.ocpi_validate(sessions.ocpi_get('NL', 'TNM', 'CONC-1')), 'the result is a valid Session');

-- Four connections PUT the same new session at once: one row, no error.
SELECT dblink_send_query('c' || n, format('SELECT sessions.ocpi_put(%L, %L, %L, %L) IS NOT NULL',
                                           'NL', 'TNM', 'conc-2', public.tap_session('conc-2')))
  FROM generate_series(1, 4) n;
SELECT is((SELECT array_agg(ok ORDER BY n) FROM generate_series(1, 4) n, dblink_get_result('c' || n) AS t(ok boolean)),
          ARRAY[true, true, true, true], 'concurrent PUTs of one session all succeed');
SELECT count(*) FROM generate_series(1, 4) n, dblink_get_result('c' || n) AS t(ok boolean);
SELECT is((SELECT count(*) FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id = 'CONC-2'),
          1::bigint, '... and store one row');

SELECT dblink_exec('setup', $$DELETE FROM sessions.store WHERE namespace = 'NL-TNM' AND external_id IN ('CONC-1', 'CONC-2')$$);
SELECT dblink_disconnect('c' || n) FROM generate_series(1, 4) n;
SELECT dblink_disconnect('setup');

SELECT * FROM finish();
ROLLBACK;
