-- daily_chart_svg: a well-formed standalone SVG with one marker per day and
-- series, an escaped title, readable for one day and for three years.
BEGIN;
SET client_min_messages = warning;
SELECT plan(26);

SELECT has_function('sessions', 'daily_chart_svg', ARRAY['sessions.session_stats', 'text']);

CREATE TEMP TABLE g AS
SELECT t AS s, t + interval '40 minutes' AS e,
       CASE WHEN n % 5 < 3 THEN 0 WHEN n % 5 = 3 THEN 0.4 ELSE 11.0 END::float8 AS k
  FROM generate_series('2023-01-01 00:30'::timestamptz, '2025-12-31 23:30', interval '6 hours') WITH ORDINALITY AS x(t, n);

CREATE TEMP TABLE charts AS
SELECT 'week' AS name, sessions.daily_chart_svg(sessions.session_stats_agg(s, e, k), 'Week <1> & "two"') AS svg
  FROM g WHERE s < '2023-01-08'
UNION ALL
SELECT 'day', sessions.daily_chart_svg(sessions.session_stats_agg(s, e, k)) FROM g WHERE s < '2023-01-02'
UNION ALL
SELECT 'years', sessions.daily_chart_svg(sessions.session_stats_agg(s, e, k, 'Europe/Warsaw')) FROM g;

CREATE FUNCTION pg_temp.xcount(svg text, path text) RETURNS int LANGUAGE sql AS $$
    SELECT pg_catalog.cardinality(pg_catalog.xpath(path, svg::xml, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))
$$;

SELECT ok(bool_and(xml_is_well_formed_document(svg)), 'every chart is a well-formed XML document') FROM charts;
SELECT is((SELECT pg_temp.xcount(svg, '/s:svg') FROM charts WHERE name = 'week'), 1, 'root is an svg element in the SVG namespace');
SELECT is((SELECT pg_temp.xcount(svg, '//s:circle[@class="empty"]') FROM charts WHERE name = 'week'), 7, 'one empty marker per day');
SELECT is((SELECT pg_temp.xcount(svg, '//s:circle[@class="micro"]') FROM charts WHERE name = 'week'), 7, 'one micro marker per day');
SELECT is((SELECT (xpath('//s:text[@class="title"]/text()', svg::xml, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))[1]::text FROM charts WHERE name = 'week'),
          'Week &lt;1&gt; &amp; "two"', 'title escaped (and parsed back)');
SELECT ok((SELECT svg LIKE '%<text class="xlabel"%>2023-01-04</text>%' FROM charts WHERE name = 'week'), 'dated x axis');
SELECT ok((SELECT svg LIKE '%>60%%</text>%' FROM charts WHERE name = 'week'), 'percentage y axis');
SELECT is((SELECT pg_temp.xcount(svg, '//s:path[@class="line-empty"]') + pg_temp.xcount(svg, '//s:path[@class="line-micro"]') FROM charts WHERE name = 'week'),
          2, 'two lines');
SELECT ok((SELECT svg LIKE '%Empty sessions%Micro sessions%' FROM charts WHERE name = 'week'), 'legend');

-- Two panels, each with its own scale: at 60 % empty and 20 % micro the
-- micro line must not lie flat at the bottom of a shared 0-60 % axis.
CREATE FUNCTION pg_temp.num(svg text, path text) RETURNS float8 LANGUAGE sql AS $$
    SELECT pg_catalog.rtrim((pg_catalog.xpath(path, svg::xml, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))[1]::text, '%')::float8
$$;
SELECT is((SELECT pg_temp.xcount(svg, '//s:g[@class="panel-empty"]') || '/' || pg_temp.xcount(svg, '//s:g[@class="panel-micro"]')
             FROM charts WHERE name = 'week'), '1/1', 'two panels: empty above, micro below');
SELECT cmp_ok((SELECT pg_temp.num(svg, '//s:g[@class="panel-micro"]/s:text[@class="ylabel"][last()-1]/text()') FROM charts WHERE name = 'week'), '<',
              (SELECT pg_temp.num(svg, '//s:g[@class="panel-empty"]/s:text[@class="ylabel"][last()-1]/text()') FROM charts WHERE name = 'week'),
              'each panel has its own scale: the micro one tops out lower');
SELECT cmp_ok((SELECT min(x::text::float8) FROM charts, unnest(xpath('//s:circle[@class="micro"]/@cy', svg::xml,
                  ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS x WHERE name = 'week'), '<',
              (SELECT (pg_temp.num(svg, '//s:g[@class="panel-micro"]/s:text[@class="ylabel"][1]/@y')
                     + pg_temp.num(svg, '//s:g[@class="panel-micro"]/s:text[@class="ylabel"][last()-1]/@y')) / 2
                 FROM charts WHERE name = 'week'),
              'the highest micro day reaches the upper half of its panel');
SELECT cmp_ok((SELECT max(x::text::float8) FROM charts, unnest(xpath('//s:circle[@class="empty"]/@cy', svg::xml,
                  ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS x WHERE name = 'week'), '<=',
              (SELECT pg_temp.num(svg, '//s:g[@class="panel-empty"]/s:text[@class="ylabel"][1]/@y') FROM charts WHERE name = 'week'),
              'empty markers stay in the upper panel');
SELECT is((SELECT pg_temp.xcount(svg, '//s:circle[@class="empty"]') FROM charts WHERE name = 'day'), 1, 'one day: one marker');
SELECT ok((SELECT svg LIKE '%Empty and micro sessions, 2023-01-01%' FROM charts WHERE name = 'day'), 'one day: titled with the day');
SELECT is((SELECT pg_temp.xcount(svg, '//s:circle[@class="empty"]') FROM charts WHERE name = 'years'),
          (SELECT count(*)::int FROM sessions.days((SELECT sessions.session_stats_agg(s, e, k, 'Europe/Warsaw') FROM g))),
          'three years: one marker per day');
SELECT cmp_ok((SELECT pg_temp.xcount(svg, '//s:text[@class="xlabel"]') FROM charts WHERE name = 'years'), '<=', 14,
              'three years: axis labels thinned');
SELECT is(sessions.daily_chart_svg(NULL), NULL, 'NULL summary, NULL chart');
SELECT is((SELECT pg_temp.xcount(sessions.daily_chart_svg(sessions.session_stats_agg(s, e, k), E'bad \x01 control'), '//s:text[@class="title"]')
             FROM g WHERE s < '2023-01-02'), 1, 'control characters in the title cannot break the XML');

-- The widest span the date type holds: the tick limit holds for any span
-- (steps in years), the output stays small, BC dates print as PostgreSQL
-- prints them (the BC year with " BC", never a negative year).
INSERT INTO charts
SELECT 'extreme', sessions.daily_chart_svg(
    'v1 tz=UTC micro=1 volts=208 good=1 fair=1 | -4712-01-01 0 1 1 0 0 0 0 0 0 0 | 5874897-12-31 0 1 0 1 0 0 0 0 0 0'::sessions.session_stats)
UNION ALL
SELECT 'bc', sessions.daily_chart_svg(
    'v1 tz=UTC micro=1 volts=208 good=1 fair=1 | -0099-01-05 0 1 1 0 0 0 0 0 0 0 | -0099-09-30 0 1 0 1 0 0 0 0 0 0'::sessions.session_stats);
SELECT ok((SELECT xml_is_well_formed_document(svg) FROM charts WHERE name = 'extreme'), 'extreme span: well-formed');
SELECT cmp_ok((SELECT pg_temp.xcount(svg, '//s:text[@class="xlabel"]') FROM charts WHERE name = 'extreme'), '<=', 14,
              'extreme span (4713 BC to 5874897 AD): at most 14 ticks');
SELECT cmp_ok((SELECT length(svg) FROM charts WHERE name = 'extreme'), '<', 20000, 'extreme span: output stays small');
SELECT ok((SELECT svg LIKE '%Daily empty and micro sessions, 4713-01-01 BC to 5874897-12-31<%' FROM charts WHERE name = 'extreme'),
          'extreme span: the title names both days, the first as a BC date');
SELECT is((SELECT array_agg(x::text) FROM charts, unnest(xpath('//s:text[@class="xlabel"]/text()', svg::xml,
              ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS x WHERE name = 'bc' AND x::text LIKE '%0100-0%'),
          ARRAY['0100-02 BC', '0100-03 BC', '0100-04 BC', '0100-05 BC', '0100-06 BC', '0100-07 BC', '0100-08 BC', '0100-09 BC'],
          'BC months labelled as PostgreSQL prints BC dates');
SELECT ok((SELECT bool_and(svg NOT LIKE '%>-%') FROM charts WHERE name IN ('bc', 'extreme')), 'no negative year anywhere');

SELECT * FROM finish();
ROLLBACK;
