-- Analytics in SQL over the PowerFlex sessions just loaded: SESHIS's
-- combined summary per site, a daily breakdown, and summaries stored per site
-- that roll up into the whole.
\echo
\echo '== Combined summary per site, last 30 days (sessions.summary_report)'
SELECT s.site, t.completed AS sessions, t.empty, round(t.empty_pct::numeric, 1) AS empty_pct,
       t.micro, round(t.micro_pct::numeric, 1) AS micro_pct, t.combined, round(t.combined_pct::numeric, 1) AS combined_pct,
       t.normal, round(t.kwh::numeric, 1) AS kwh, t.green, t.orange, t.red
  FROM (SELECT DISTINCT site FROM sessions.store WHERE kind = 'powerflex') s,
       LATERAL sessions.summary_report(sessions.date_range('last_month', 'America/Los_Angeles'),
                                       'America/Los_Angeles', 1.0, s.site) t
 ORDER BY s.site;

\echo
\echo '== Last 7 days, per local day (sessions.daily_report)'
SELECT day, completed AS sessions, empty, round(empty_pct::numeric, 1) AS empty_pct,
       micro, round(micro_pct::numeric, 1) AS micro_pct, round(kwh::numeric, 1) AS kwh, avg_duration
  FROM sessions.daily_report(sessions.date_range('last_week', 'America/Los_Angeles'), 'America/Los_Angeles');

\echo
\echo '== Summaries stored per site roll up to the same totals (sessions.rollup)'
CREATE TEMP TABLE site_stats AS
SELECT site, sessions.session_stats_agg(started_at, ended_at, kwh, 'America/Los_Angeles') AS st
  FROM sessions.store WHERE kind = 'powerflex' GROUP BY site;
SELECT 'rollup of sites' AS source, sessions, completed, empty, micro, normal, round(kwh::numeric, 1) AS kwh
  FROM sessions.totals((SELECT sessions.rollup(st) FROM site_stats))
UNION ALL
SELECT 'one aggregate', sessions, completed, empty, micro, normal, round(kwh::numeric, 1)
  FROM sessions.totals((SELECT sessions.session_stats_agg(started_at, ended_at, kwh, 'America/Los_Angeles')
                          FROM sessions.store WHERE kind = 'powerflex'));
