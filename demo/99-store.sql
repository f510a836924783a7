-- What the store holds after the demo's loads, by kind and status.
\echo
\echo '== The session store'
SELECT kind, namespace, status, count(*) AS sessions,
       round(sum(kwh)::numeric, 2) AS kwh,
       min(started_at)::date AS first_day, max(started_at)::date AS last_day
  FROM sessions.store
 GROUP BY kind, namespace, status
 ORDER BY kind, namespace, status;
