-- Included (\ir) by the pgTAP files that check a plan (store.sql, powerflex.sql,
-- analytics.sql, events_log_path.sql): pg_temp.explain(q), the plan of query
-- q (EXPLAIN (COSTS OFF)) as one text, a line per plan line, for matches().
-- Defines a pg_temp function only; runs no test.
CREATE FUNCTION pg_temp.explain(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
    RETURN r;
END $$;
