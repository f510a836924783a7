-- Analytics: scalar functions, local days across DST, the seed's figures and
-- sample outputs reproduced from the store, reports, text round trip.
\pset null '(null)'
SET DateStyle = 'ISO, YMD';

-- classification and the seed's power / current figures
SELECT k, sessions.classify(k) AS class, sessions.classify(k, 0.5) AS class_at_half
  FROM (VALUES (0::float8), (0.0221), (0.5), (0.999999999), (1.0), (12.76309)) v(k);
SELECT round(sessions.average_power_w(12.76309, '2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00')::numeric, 1) AS watts,
       round(sessions.average_current_a(12.76309, '2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00')::numeric, 1) AS amps,
       sessions.charge_rating(sessions.average_current_a(12.76309, '2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00')) AS rating;
SELECT round(sessions.average_power_w(0.0221, '2025-09-12 16:16:48+00', '2025-09-13 00:44:54+00')::numeric, 1) AS watts,
       round(sessions.average_current_a(0.0221, '2025-09-12 16:16:48+00', '2025-09-13 00:44:54+00')::numeric, 2) AS amps,
       sessions.charge_rating(sessions.average_current_a(0.0221, '2025-09-12 16:16:48+00', '2025-09-13 00:44:54+00')) AS rating,
       sessions.format_duration(timestamptz '2025-09-13 00:44:54+00' - '2025-09-12 16:16:48+00') AS duration;
-- open sessions and non-positive durations have no average
SELECT sessions.average_power_w(1, now(), NULL) AS open, sessions.average_power_w(1, now(), now()) AS zero,
       sessions.average_current_a(1, '2025-01-01 10:00+00', '2025-01-01 11:00+00', 230) AS at_230v;
SELECT a, sessions.charge_rating(a) AS rating, sessions.charge_rating(a, 32, 16) AS rating_32_16
  FROM (VALUES (0::float8), (7.99), (8), (15.9), (16), (40)) v(a);
SELECT d, sessions.format_duration(d)
  FROM (VALUES (interval '0'), ('46 seconds'), ('59.94 seconds'), ('59.96 seconds'), ('12 min 30 s'),
               ('59 min 58 s'), ('8 hours 28 min'), ('23 hours 58 min'), ('3 days 4 hours'),
               ('1 mon'), ('-90 seconds')) v(d);

-- GUC defaults
SHOW session_analytics.micro_threshold;
SET session_analytics.micro_threshold = 2;
SET session_analytics.volts = 230;
SELECT sessions.classify(1.5) AS class,
       round(sessions.average_current_a(2.3, '2025-01-01 10:00+00', '2025-01-01 11:00+00')::numeric, 2) AS amps;
RESET session_analytics.micro_threshold;
RESET session_analytics.volts;
SET session_analytics.fair_amps = 0;

-- named ranges, local to the zone, across a 23-hour day
SELECT n, sessions.date_range(n, 'America/Los_Angeles', '2025-03-09 20:00+00') AS range
  FROM (VALUES ('today'), ('yesterday'), ('last_week'), ('last_month'), ('this_month')) v(n);
SELECT upper(r) - lower(r) AS length
  FROM sessions.date_range('today', 'Europe/Warsaw', '2025-10-26 12:00+00') r;

-- local days: a session every 30 minutes from one hour before a DST day to
-- one hour after it; a 23-hour day holds 46 starts, a 25-hour day 50
SELECT z, d.day, d.sessions
  FROM (VALUES ('America/Los_Angeles', date '2025-03-09'), ('America/Los_Angeles', '2025-11-02'),
               ('Europe/Warsaw', '2025-03-30'), ('Europe/Warsaw', '2025-10-26')) v(z, dd),
       LATERAL sessions.days((
           SELECT sessions.session_stats_agg(t, t + interval '10 min', 1.5, z)
             FROM generate_series((dd::timestamp AT TIME ZONE z) - interval '1 hour',
                                  ((dd + 1)::timestamp AT TIME ZONE z) + interval '30 min',
                                  interval '30 min') t)) d
 ORDER BY z, d.day;

-- a session spanning midnight counts on the day it started; its duration is whole
SELECT day, sessions, completed, normal, round(kwh::numeric, 5) AS kwh, avg_duration, green, orange, red
  FROM sessions.days((SELECT sessions.session_stats_agg('2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00', 12.76309)));
SELECT day, sessions
  FROM sessions.days((SELECT sessions.session_stats_agg('2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00', 12.76309, 'Asia/Tokyo')));

-- NULL handling: no start = ignored, no end = active, no kWh = completed but unclassified
SELECT day, sessions, active, completed, empty, micro, normal, empty_pct, kwh, green + orange + red AS rated
  FROM sessions.days((SELECT sessions.session_stats_agg(s, e, k) FROM (VALUES
       (NULL::timestamptz, '2025-01-01 11:00+00'::timestamptz, 1::float8),
       ('2025-01-01 10:00+00', NULL, 3),
       ('2025-01-01 10:00+00', '2025-01-01 11:00+00', NULL),
       ('2025-01-01 10:00+00', '2025-01-01 11:00+00', 0)) v(s, e, k)));

-- text form round trip, accessors of a summary with no completed session
SELECT st::text = st::text::sessions.session_stats::text AS round_trip, st::text
  FROM (SELECT sessions.session_stats_agg(t, t + interval '90 min', 0.25, 'Europe/Warsaw', 0.5, 230) st
          FROM generate_series(timestamptz '2025-03-29 20:00+00', '2025-03-30 04:00+00', '2 hours') t) q;
SELECT * FROM sessions.totals('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 3 0 0 0 0 0 0 0 0 0');
SELECT * FROM sessions.days(NULL);

-- zone names are stored in their canonical spelling (letter case does not
-- matter to AT TIME ZONE), so summaries made with 'utc' and 'UTC' merge
SELECT z, sessions.session_stats_agg('2025-01-01 10:00+00', '2025-01-01 11:00+00', 1, z)::text AS st
  FROM (VALUES ('utc'), ('europe/warsaw'), ('pst'), ('<+0530>-5:30'), ('utc+5')) v(z) GROUP BY z ORDER BY z;
SELECT sessions.rollup(st)::text
  FROM (VALUES ('v1 tz=utc micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 0 0 1 0 0 0 1 60000000'::sessions.session_stats),
               ((SELECT sessions.session_stats_agg('2025-01-02 10:00+00', '2025-01-02 11:00+00', 1, 'UTC')))) v(st);
-- bad input is a user error naming what is wrong: out of range, overflow, inconsistent values
SELECT sessions.session_stats_agg('4714-11-24 00:00+00 BC', NULL, NULL, 'America/New_York');
SELECT sessions.average_power_w(1, '4714-11-24 00:00+00 BC', '294276-12-31 23:59:59+00');
SELECT sessions.session_stats_agg('2025-01-01 10:00+00', '2025-01-01 09:00+00', 1);
SELECT sessions.session_stats_agg(now(), now() + interval '1 hour', 1.797e308) FROM generate_series(1, 2);
SELECT * FROM sessions.totals('v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 9223372036854775807 0 0 0 0 0 0 0 0 0 | 2025-01-02 0 9223372036854775807 0 0 0 0 0 0 0 0');
SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 4294967296-01-01 0 1 0 0 0 0 0 0 0 0'::sessions.session_stats;
SELECT 'v1 tz=UTC micro=1 volts=208 good=16 fair=8 | 2025-01-01 0 1 2 0 0 0 0 0 0 0'::sessions.session_stats;
SELECT 'v1 tz=Mars/Olympus micro=1 volts=208 good=16 fair=8'::sessions.session_stats;

-- The seed's sample outputs, from the store. 1000 PowerFlex sessions over
-- five local days; telemetry rows carry no kWh and are not charging sessions.
BEGIN;
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site, doc)
SELECT 'powerflex', 'Downtown Charging Hub', d.day || '-' || i, 'FINISHED',
       (d.day::timestamp AT TIME ZONE 'America/Los_Angeles') + i * interval '4 min',
       (d.day::timestamp AT TIME ZONE 'America/Los_Angeles') + i * interval '4 min' + interval '2 hours',
       CASE WHEN i <= d.empty THEN 0 WHEN i <= d.empty + d.micro THEN 0.5 ELSE 8 + i % 10 END,
       CASE WHEN i % 24 <> 0 THEN 'user' || (i % 12) || '@example.com' END, 'Downtown Charging Hub', '{}'
  FROM (VALUES (date '2025-09-07', 271, 188, 1), ('2025-09-08', 169, 91, 0), ('2025-09-09', 216, 150, 1),
               ('2025-09-10', 236, 154, 1), ('2025-09-11', 108, 68, 0)) d(day, total, empty, micro),
       generate_series(1, d.total) i;
INSERT INTO sessions.store (kind, namespace, status, started_at, site)
VALUES ('telemetry', 'probe', 'LIVE', '2025-09-08 12:00+00', 'Downtown Charging Hub'),
       ('powerflex', 'Uptown', 'ACTIVE', '2025-09-08 12:00+00', 'Uptown');
UPDATE sessions.store SET external_id = 'U1' WHERE namespace = 'Uptown';

-- Empty Sessions Analysis
SELECT format('Total sessions returned: %s', t.sessions) AS line
  FROM sessions.summary_report(tstzrange('2025-09-07 00:00-07', '2025-09-12 00:00-07'), 'America/Los_Angeles') t
UNION ALL
SELECT format('Sessions with 0 kWh delivered: %s (%s%% of total)', t.empty, round(t.empty_pct::numeric, 1))
  FROM sessions.summary_report(tstzrange('2025-09-07 00:00-07', '2025-09-12 00:00-07'), 'America/Los_Angeles') t;
SELECT format('- %s: %s empty / %s total (%s%%)', day, empty, completed, round(empty_pct::numeric, 1)) AS daily_breakdown
  FROM sessions.daily_report(tstzrange('2025-09-07 00:00-07', '2025-09-12 00:00-07'), 'America/Los_Angeles');

-- Microsessions Analysis
SELECT format('- %s: %s micro / %s total (%s%%)', day, micro, completed, round(micro_pct::numeric, 1)) AS daily_breakdown
  FROM sessions.daily_report(tstzrange('2025-09-07 00:00-07', '2025-09-12 00:00-07'), 'America/Los_Angeles', 1.0);

-- Combined Summary (site filter)
SELECT format(E'Site: %s\nTotal sessions analyzed: %s\nEmpty sessions (0 kWh): %s (%s%%)\nMicrosessions (0 < kWh < 1.0): %s (%s%%)\nCombined (empty + micro): %s (%s%%)\nNormal sessions (>= 1.0 kWh): %s (%s%%)',
              'Downtown Charging Hub', completed, empty, round(empty_pct::numeric, 1), micro, round(micro_pct::numeric, 1),
              combined, round(combined_pct::numeric, 1), normal, round(100.0 * normal / completed, 1)) AS combined_summary
  FROM sessions.summary_report(NULL, 'America/Los_Angeles', 1.0, 'Downtown Charging Hub');
SELECT sessions, active, completed FROM sessions.summary_report(NULL, 'UTC', 1.0, 'Uptown', true);
SELECT sessions, active, completed FROM sessions.summary_report(NULL, 'UTC', 1.0, 'Uptown');
SELECT count(*) AS days_without_active FROM sessions.daily_report(NULL, 'UTC', 1.0, 'Uptown');

-- User Session Analysis
INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, ended_at, kwh, user_ref, site)
VALUES ('powerflex', 'seed', '0101110106_2025-09-12', 'FINISHED', '2025-09-15 07:12:27+00', '2025-09-15 07:13:13+00', 0.0221, 'vera.combatvet@gmail.com', 'seed'),
       ('powerflex', 'seed', '0101110102_2025-09-12', 'FINISHED', '2025-09-12 16:16:48+00', '2025-09-13 00:44:54+00', 12.763, 'vera.combatvet@gmail.com', 'seed'),
       ('powerflex', 'seed', '0101110102_2025-08-20', 'FINISHED', '2025-08-20 19:29:13+00', '2025-08-21 00:21:03+00', 12.76309, 'john.doe@example.com', 'seed'),
       ('powerflex', 'seed', 'anon-1', 'FINISHED', '2025-09-14 10:00:00+00', '2025-09-14 10:30:00+00', 0, NULL, 'seed'),
       ('ocpi', 'NL-TNM', 'OCPI-1', 'COMPLETED', '2025-09-14 11:00:00+00', '2025-09-14 12:00:00+00', 20, 'NL-TNM-C12345678-X', 'LOC1');
SELECT format('User: %s  Total sessions: %s', COALESCE(user_ref, 'null'), user_sessions) AS user_line,
       format('Session %s: START: %s / END: %s / DURATION: %s / %s kWh / %s / %s A %s', session_no, started_local, ended_local,
              duration, kwh, external_id, round(average_a::numeric, 2), rating) AS session_line
  FROM sessions.user_report(NULL, tstzrange('2025-08-01', '2025-09-16'), 'UTC')  -- pg_regress sets PGTZ: the SESHIS sample is in UTC
 WHERE (user_ref IS NULL OR user_ref NOT LIKE 'user%') AND session_no <= 2
 ORDER BY user_ref NULLS FIRST, session_no;
SELECT user_ref, session_no, duration, round(average_w::numeric, 1) AS watts, round(average_a::numeric, 2) AS amps, rating
  FROM sessions.user_report('vera.combatvet@gmail.com');
SELECT count(DISTINCT COALESCE(user_ref, 'null')) AS total_unique_users, count(*) FILTER (WHERE user_ref IS NULL) AS null_user_sessions
  FROM sessions.user_report(NULL, tstzrange('2025-09-07', '2025-09-16'));
ROLLBACK;

-- per-site summaries stored in a table roll up later
CREATE TABLE site_stats (site text, st sessions.session_stats);
INSERT INTO site_stats
SELECT 'site-' || (g % 3), sessions.session_stats_agg(t, t + interval '1 hour', (g % 4)::float8, 'Europe/Warsaw')
  FROM generate_series(1, 60) g, LATERAL (SELECT timestamptz '2025-10-24 00:00+00' + g * interval '100 min') x(t)
 GROUP BY 1;
SELECT d.day, d.sessions, d.empty, d.micro, d.normal, d.kwh
  FROM (SELECT sessions.rollup(st) st FROM site_stats) r, sessions.days(r.st) d;
DROP TABLE site_stats;
