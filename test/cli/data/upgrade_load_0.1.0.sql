-- Data stored through every entry point of 0.1.0, run by test/cli/upgrade.t
-- in a database where CREATE EXTENSION session_analytics VERSION '0.1.0'
-- ran (with the current library). Only 0.1.0's API is used here. psql
-- variables: d1 d2 dp_cost dp_period t1 tp_period (OCPI examples), pf
-- pf_bad (PowerFlex documents).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

INSERT INTO sessions.role_namespace VALUES
    ('session_analytics_writer', '*'), ('session_analytics_reader', 'NL-STK');

-- OCPI: PUT under 2.2.1 and 2.3.0, PATCH (total cost, charging periods
-- appended twice), charging preferences.
SELECT sessions.ocpi_put('NL', 'STK', '101', :'d1') IS NOT NULL;
SELECT sessions.ocpi_put('BE', 'BEC', '101', :'d2', '2.2.1') IS NOT NULL;
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'dp_cost') IS NOT NULL;
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'dp_period') IS NOT NULL;
SELECT sessions.ocpi_patch('NL', 'STK', '101', :'dp_period') IS NOT NULL;
SELECT sessions.ocpi_put('NL', 'STK', '201', :'t1'::jsonb || '{"id": "201"}', '2.3.0') IS NOT NULL;
SELECT sessions.ocpi_patch('NL', 'STK', '201', :'tp_period') IS NOT NULL;
SELECT sessions.ocpi_put_charging_preferences('NL', 'STK', '101',
    '{"profile_type": "FAST", "departure_time": "2030-01-01T08:00:00Z", "energy_need": 20}');

-- PowerFlex: a clean import per site and one with rejected rows
-- (sessions.import_rejects keeps them).
SELECT sessions.import_powerflex(:'pf') IS NOT NULL;
SELECT sessions.import_powerflex(:'pf_bad', 'Depot') IS NOT NULL;

-- Telemetry: a parent with two associates (one given at creation, one
-- added), details and identifier updated, one ended, one with a deadline.
DO $$
DECLARE
    a uuid := sessions.create_session('meter-A', 'Charge', 2, '+02:00', 'EVSE-1', '{"vin": "WVW123"}',
                                      '{}', '2025-09-07 10:00+00', '2099-01-01 00:00+00');
    b uuid := sessions.create_session('meter-A', 'Plug', 1, '0', 'P-1', '{}', '{}', '2025-09-07 10:05+00');
    p uuid := sessions.create_session('meter-A', 'Visit', 1, '-05:00', 'V-1', '{"site": "Depot"}',
                                      ARRAY[a], '2025-09-07 09:55+00');
BEGIN
    PERFORM sessions.add_associate_session(p, b);
    PERFORM sessions.update_session_details(a, '{"vin": null, "card": "NL-TNM-123"}');
    PERFORM sessions.update_session_identifier(b, 'P-2');
    PERFORM sessions.end_session(b, 'meter-A', '2025-09-07 11:00+00');
    PERFORM sessions.create_session('meter-B', creation_time => '2025-09-08 00:00+00');
END
$$;

-- Invoice-style: online and batch sessions with status moves, counted
-- items, a secret, a lease, one terminated; a state document and a
-- continuation token kept by the client.
SELECT sessions.open_session('online', '100 years', 'REF-ON-1', '{"order": "A-1"}');
SELECT sessions.open_session('online', '100 years', 'REF-ON-2');
SELECT sessions.open_session('batch', '100 years', 'REF-BA-1', '{"batch": 7}');
SELECT sessions.set_session_status('REF-ON-1', 150);
SELECT sessions.count_session_item('REF-ON-1', true);
SELECT sessions.count_session_item('REF-ON-1', false);
SELECT sessions.set_session_secret('REF-ON-1', '\x00ff10'::bytea);
SELECT sessions.claim_session('REF-BA-1', 'worker-1', '100 years') IS NOT NULL;
SELECT sessions.terminate_session('REF-ON-2');
CREATE TABLE public.client_state AS
SELECT 'state'::text AS what, sessions.session_state('REF-ON-1')::text AS value
UNION ALL
SELECT 'token', l.continuation FROM sessions.list_sessions('online', page_size => 1) l WHERE l.continuation IS NOT NULL;

-- Stored session_stats values in a user table: built by every form of the
-- aggregate, merged by rollup, and one typed in as text.
CREATE TABLE public.stats_by_site (site text PRIMARY KEY, stats sessions.session_stats);
INSERT INTO public.stats_by_site
SELECT coalesce(s.site, s.kind || ':' || s.namespace),
       sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh)
  FROM sessions.store s WHERE s.started_at IS NOT NULL GROUP BY 1;
INSERT INTO public.stats_by_site
SELECT 'all/Amsterdam', sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'Europe/Amsterdam')
  FROM sessions.store s WHERE s.started_at IS NOT NULL
UNION ALL
SELECT 'all/NY/micro', sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'America/New_York', 2.5)
  FROM sessions.store s WHERE s.started_at IS NOT NULL
UNION ALL
SELECT 'all/LA/volts', sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'America/Los_Angeles', 1, 230)
  FROM sessions.store s WHERE s.started_at IS NOT NULL
 UNION ALL
-- Zone names as a user typed them (0.1.0 stored them as given).
SELECT 'all/utc-lower', sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'utc')
  FROM sessions.store s WHERE s.started_at IS NOT NULL
UNION ALL
SELECT 'all/ny-lower', sessions.session_stats_agg(s.started_at, s.ended_at, s.kwh, 'america/new_york')
  FROM sessions.store s WHERE s.started_at IS NOT NULL
UNION ALL
SELECT 'text', 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-09-07 1 2 0 1 1 1 0 1 12.5 5400000000'::sessions.session_stats;
INSERT INTO public.stats_by_site
SELECT 'rollup', sessions.rollup(stats) FROM public.stats_by_site
 WHERE site NOT LIKE 'all/%' AND site <> 'text' AND site NOT LIKE 'telemetry:%';

-- Events: written by the store trigger for everything above; pruning runs.
SELECT sessions.prune_events() >= 0;
