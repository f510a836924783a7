-- Seeded mutation test: a few thousand corrupted Sessions and PATCH bodies
-- made from the official examples (fields dropped, wrong types, nulls, huge
-- strings, deep nesting, bad dates and enums, negative numbers, unknown and
-- control characters). Each is either stored as valid (and reads back equal)
-- or refused with a class 22/23 SQLSTATE; the server stays up.
\set d1 `cat test/data/ocpi/2.2.1-d2/session_example_1_simple_start.json`
\set d2 `cat test/data/ocpi/2.2.1-d2/session_example_2_short_finished.json`
\set dpc `cat test/data/ocpi/2.2.1-d2/session_patch_example_charging_period.json`
\set t1 `cat test/data/ocpi/2.3.0/session_example_1_simple_start.json`
\set t2 `cat test/data/ocpi/2.3.0/session_example_2_short_finished.json`
\set tpc `cat test/data/ocpi/2.3.0/session_patch_example_charging_period.json`
BEGIN;
SELECT plan(8);

CREATE TABLE public.tap_base (n int PRIMARY KEY, op text, version text, doc jsonb);
INSERT INTO public.tap_base VALUES
  (0, 'put', '2.2.1', :'d1'), (1, 'put', '2.2.1', :'d2'), (2, 'put', '2.3.0', :'t1'), (3, 'put', '2.3.0', :'t2'),
  (4, 'patch', NULL, :'dpc'), (5, 'patch', NULL, :'tpc');

-- Every path in a document (object keys and array positions), six levels deep.
CREATE FUNCTION public.tap_paths(j jsonb, prefix text[] DEFAULT '{}') RETURNS SETOF text[]
LANGUAGE plpgsql AS $$
DECLARE k text; v jsonb; i int;
BEGIN
  IF coalesce(array_length(prefix, 1), 0) >= 6 THEN
    RETURN;   -- the Session schema is 4 levels deep; skip the tails of deep nests
  ELSIF jsonb_typeof(j) = 'object' THEN
    FOR k, v IN SELECT * FROM jsonb_each(j) LOOP
      RETURN NEXT prefix || k;
      RETURN QUERY SELECT * FROM public.tap_paths(v, prefix || k);
    END LOOP;
  ELSIF jsonb_typeof(j) = 'array' THEN
    FOR i IN 0 .. jsonb_array_length(j) - 1 LOOP
      RETURN NEXT prefix || i::text;
      RETURN QUERY SELECT * FROM public.tap_paths(j -> i, prefix || i::text);
    END LOOP;
  END IF;
END $$;

-- The paths of each example, computed once.
CREATE TABLE public.tap_base_paths AS
  SELECT n, array_agg(array_to_string(t, chr(31))) AS paths FROM public.tap_base, public.tap_paths(doc) t GROUP BY n;

-- One random corruption of doc at one of its paths (given, chr(31)-joined);
-- a path a first corruption removed is simply created again.
CREATE FUNCTION public.tap_mutate(doc jsonb, paths text[]) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  p text[];
  op int := floor(random() * 16);
  d int;
  v jsonb;
BEGIN
  p := string_to_array(paths[1 + floor(random() * array_length(paths, 1))::int], chr(31));
  v := CASE op
    WHEN 0 THEN NULL
    WHEN 1 THEN 'null'
    WHEN 2 THEN to_jsonb(round((random() * 2000 - 1000)::numeric, 3))
    WHEN 3 THEN to_jsonb('x'::text)
    WHEN 4 THEN '{}'
    WHEN 5 THEN '[]'
    WHEN 6 THEN 'true'
    WHEN 7 THEN to_jsonb(repeat('A', 1000 + floor(random() * 100000)::int))
    WHEN 8 THEN 'null'
    WHEN 9 THEN to_jsonb((ARRAY['2015-02-30T00:00:00Z', 'yesterday', '2015-06-29T25:00:00Z', '', '2015-06-29T20:39:09+02:00',
                               '9999-99-99T99:99:99Z', '2015-06-29T20:39:09.Z', '2015-06-29T20:39:09ZZ', '0000-01-01T00:00:00Z',
                               '2015-06-29T20:39:09.1234567890Z'])[1 + floor(random() * 10)::int])
    WHEN 10 THEN to_jsonb((ARRAY['NOT_AN_ENUM', 'rfid', 'active', 'ENERGY ', 'EMAID', 'X', 'COMPLETED', 'PARKING_TIME'])[1 + floor(random() * 8)::int])
    WHEN 11 THEN to_jsonb(-1 - floor(random() * 100))
    WHEN 12 THEN to_jsonb(E'ctrl\u0001char\ttab'::text)
    WHEN 13 THEN to_jsonb(repeat('Z', 37))
    WHEN 14 THEN to_jsonb(E'caf\u00e9 \u0085'::text)
    ELSE '{"unknown_field": {"deep": [1, {"x": null}]}}'
  END;
  IF op = 8 THEN
    -- deep nesting: build a balanced nested array of random depth
    d := 1 + floor(random() * 2000)::int;
    v := (repeat('[', d) || '1' || repeat(']', d))::jsonb;
  END IF;
  IF op = 0 THEN
    RETURN doc #- p;
  ELSIF op = 15 THEN
    -- add an unknown member next to the chosen one (or at the top)
    IF jsonb_typeof(doc #> p[1:array_length(p, 1) - 1]) = 'object' THEN
      RETURN jsonb_set(doc, p[1:array_length(p, 1) - 1] || ARRAY['x_unknown'], v);
    END IF;
    RETURN doc || jsonb_build_object('x_unknown', v);
  END IF;
  RETURN jsonb_set(doc, p, v);
EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
  RETURN doc;   -- a second corruption whose path no longer fits the document
END $$;

CREATE TABLE public.tap_results (i int, op text, accepted boolean, sqlstate text, message text, round_trip boolean);

DO $$
DECLARE
  b record;
  m jsonb;
  r jsonb;
  st text;
  msg text;
BEGIN
  PERFORM setseed(0.20240501);
  PERFORM sessions.ocpi_put('NL', 'STK', '101', doc, version) FROM public.tap_base WHERE n = 0;
  FOR i IN 1 .. 3000 LOOP
    SELECT tb.*, bp.paths INTO b FROM public.tap_base tb JOIN public.tap_base_paths bp USING (n) WHERE n = i % 6;
    m := public.tap_mutate(b.doc, b.paths);
    IF random() < 0.3 THEN m := public.tap_mutate(m, b.paths); END IF;
    BEGIN
      IF b.op = 'put' THEN
        r := sessions.ocpi_put(b.doc ->> 'country_code', b.doc ->> 'party_id', b.doc ->> 'id', m, b.version);
        INSERT INTO public.tap_results VALUES (i, b.op, true, NULL, NULL,
          sessions.ocpi_get(b.doc ->> 'country_code', b.doc ->> 'party_id', b.doc ->> 'id') = m AND r = m);
      ELSE
        r := sessions.ocpi_patch('NL', 'STK', '101', m);
        INSERT INTO public.tap_results VALUES (i, b.op, true, NULL, NULL, sessions.ocpi_get('NL', 'STK', '101') = r);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      INSERT INTO public.tap_results VALUES (i, b.op, false, st, left(msg, 200), NULL);
    END;
  END LOOP;
END $$;

SELECT is((SELECT count(*) FROM public.tap_results), 3000::bigint, '3000 mutants tried');
SELECT is((SELECT count(*) FROM public.tap_results WHERE NOT accepted AND left(sqlstate, 2) NOT IN ('22', '23')), 0::bigint,
          'every refusal is class 22 or 23');
SELECT diag(sqlstate || ': ' || message) FROM public.tap_results WHERE NOT accepted AND left(sqlstate, 2) NOT IN ('22', '23') LIMIT 5;
SELECT cmp_ok((SELECT count(*) FROM public.tap_results WHERE NOT accepted), '>', 1000::bigint, 'most mutants are refused');
SELECT cmp_ok((SELECT count(*) FROM public.tap_results WHERE accepted AND op = 'put'), '>', 50::bigint, 'some PUT mutants are still valid');
SELECT cmp_ok((SELECT count(*) FROM public.tap_results WHERE accepted AND op = 'patch'), '>', 50::bigint, 'some PATCH mutants are still valid');
SELECT is((SELECT count(*) FROM public.tap_results WHERE accepted AND NOT round_trip), 0::bigint,
          'every accepted mutant reads back exactly as stored');
SELECT cmp_ok((SELECT count(DISTINCT sqlstate) FROM public.tap_results WHERE NOT accepted), '>=', 6::bigint,
              'refusals span the documented SQLSTATEs');
SELECT is((SELECT 1), 1, 'the server is still up');

SELECT * FROM finish();
ROLLBACK;
