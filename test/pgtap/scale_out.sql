-- sessions.distribute() on one node (the cluster runs are test/citus/*.t):
-- its errors without Citus, who may call it.
BEGIN;
SELECT plan(5);

SELECT throws_ok('SELECT * FROM sessions.distribute()', '0A000',
                 'distribute: Citus is not loaded in this database',
                 'without the citus extension distribute() refuses with 0A000');
CREATE FUNCTION pg_temp.distribute_error(OUT detail text, OUT hint text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sessions.distribute();
EXCEPTION WHEN feature_not_supported THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
SELECT alike((SELECT hint FROM pg_temp.distribute_error()), '%CREATE EXTENSION citus%citus_add_node%coordinator%',
            'the hint says how to set Citus up and where to call distribute()');
SELECT is((SELECT count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = 'sessions.store'::regclass
              AND NOT t.tgisinternal AND t.tgenabled = 'D'), 0::bigint,
          'the refused call disabled none of the store''s triggers');

CREATE ROLE so_writer IN ROLE session_analytics_writer;
SET ROLE so_writer;
SELECT throws_ok('SELECT * FROM sessions.distribute()', '42501', NULL, 'a writer may not call distribute()');
RESET ROLE;
SELECT is((SELECT pg_catalog.count(*) FROM pg_catalog.pg_constraint c
            WHERE c.conrelid = 'sessions.telemetry_associate'::regclass AND c.contype = 'f'), 2::bigint,
          'one node keeps both foreign keys of telemetry_associate');

SELECT * FROM finish();
ROLLBACK;
