-- Telemetry sessions (Stream API) and invoice-style sessions (ksef2) in the store.
\echo
\echo '== Telemetry: create, update, associate, end'
SELECT sessions.create_session('DataSource', identifier => 'associate_session',
       details => '{"track": "Silverstone Circuit", "weather": "dry"}') AS associate_key \gset
SELECT sessions.create_session('DataSource', identifier => 'silverstone-gp-2024', utc_offset => '01:00',
       details => '{"track": "Silverstone Circuit", "temperature": "22°C"}',
       associate_keys => ARRAY[:'associate_key'::uuid]) AS session_key \gset
\o /dev/null
SELECT sessions.update_session_details(:'session_key', '{"lap_count": "15", "temperature": null}');
\o
SELECT jsonb_pretty(sessions.session_info(:'session_key') - 'session_key' - 'creation_time' - 'duration'
                    - 'associate_session_keys') AS session_info;
SELECT sessions.end_session(:'session_key', 'DataSource') AS ended, sessions.end_session(:'session_key') AS ended_again;
SELECT identifier, type, is_complete FROM sessions.current_sessions('DataSource', include_complete => true) ORDER BY identifier;
SELECT day, data_source, type, sessions_started, sessions_live FROM sessions.telemetry_daily();

\echo
\echo '== Invoice-style: open, count, close, list, resume'
SELECT sessions.open_session('online', metadata => '{"form_code": "FA3"}') AS ref \gset
SELECT sessions.count_session_item(:'ref', true), sessions.count_session_item(:'ref', false);
SELECT sessions.session_state(:'ref') AS state \gset
SELECT sessions.resume_session(:'state') -> 'status' AS resumed_status;
SELECT sessions.claim_session(:'ref', 'worker-1', '5 minutes') AS worker_1, sessions.claim_session(:'ref', 'worker-2', '5 minutes') AS worker_2;
SELECT sessions.terminate_session(:'ref') AS closed;
SELECT sessions.set_session_status(:'ref', 200) -> 'status' AS final_status;
SELECT jsonb_array_length(items) AS sessions_on_page, continuation IS NULL AS last_page
  FROM sessions.list_sessions('online', page_size => 10);

\echo
\echo '== Metrics (Prometheus text)'
\pset format unaligned
\pset tuples_only on
SELECT sessions.metrics();
\pset format aligned
\pset tuples_only off
