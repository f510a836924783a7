-- Attacks on sessions.import_rejects (rejected PowerFlex rows, with their
-- users' e-mail addresses) by real login roles over dblink: another site's
-- writer, an unmapped writer, a reader, a role with no extension role.
-- Each attack must be refused with its SQLSTATE or see/touch zero rows, and
-- the table must be unchanged afterwards. Runs outside a transaction (the
-- dblink sessions must see the roles and rows), so it cleans up at the end.
SET client_min_messages = warning;

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['atk_rj_wa', 'atk_rj_wb', 'atk_rj_wu', 'atk_rj_rd', 'atk_rj_no'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
CREATE ROLE atk_rj_wa LOGIN IN ROLE session_analytics_writer;   -- writer of site A
CREATE ROLE atk_rj_wb LOGIN IN ROLE session_analytics_writer;   -- writer of site B
CREATE ROLE atk_rj_wu LOGIN IN ROLE session_analytics_writer;   -- writer mapped to nothing
CREATE ROLE atk_rj_rd LOGIN IN ROLE session_analytics_reader;   -- reader of site A
CREATE ROLE atk_rj_no LOGIN;                                    -- no extension role
INSERT INTO sessions.role_namespace VALUES ('atk_rj_wa', 'SiteA'), ('atk_rj_wb', 'SiteB'), ('atk_rj_rd', 'SiteA');

CREATE FUNCTION public.atk(who text) RETURNS text LANGUAGE sql AS $$
    SELECT format('dbname=%s host=%s port=%s user=%s', current_database(),
                  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), who) $$;
-- A fingerprint of the whole table, read as the superuser (bypasses RLS).
CREATE FUNCTION public.rj_state() RETURNS text LANGUAGE sql AS $$
    SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')
      FROM sessions.import_rejects r $$;

-- Each site's writer imports its own export with bad rows (the rejects).
SELECT dblink_connect('wa', public.atk('atk_rj_wa'));
SELECT dblink_connect('wb', public.atk('atk_rj_wb'));
SELECT dblink_connect('wu', public.atk('atk_rj_wu'));
SELECT dblink_connect('rd', public.atk('atk_rj_rd'));
SELECT dblink_connect('no', public.atk('atk_rj_no'));
SELECT * FROM dblink('wa', $q$SELECT skipped FROM sessions.import_powerflex('[
    {"session_id": "a1", "session_kwh": -1, "session_start_time": 1757623500000, "user": "alice@a.example"},
    {"session_id": "a2", "session_kwh": 1e-400, "session_start_time": 1757623500000, "user": "ann@a.example"}]', 'SiteA')$q$)
    AS t(skipped int);
SELECT * FROM dblink('wb', $q$SELECT skipped FROM sessions.import_powerflex('[
    {"session_id": "b1", "session_start_time": 1757623500000, "user": "bob@b.example"}]', 'SiteB')$q$)
    AS t(skipped int);
CREATE TEMP TABLE before AS SELECT public.rj_state() AS s;

SELECT plan(26);

-- Positive controls: each writer sees exactly its own rejects.
SELECT is((SELECT n FROM dblink('wa', 'SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)), 2::bigint,
          'control: site A''s writer sees its 2 rejects');
SELECT is((SELECT n FROM dblink('wb', 'SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)), 1::bigint,
          'control: site B''s writer sees its 1 reject');
SELECT is((SELECT count(*)::int FROM sessions.import_rejects WHERE namespace = 'SiteA'), 2, 'control: the rejects carry the namespace');

-- 1. Another site's writer reads site A's rejects (and their e-mails).
SELECT is((SELECT n FROM dblink('wb', $q$SELECT count(*) FROM sessions.import_rejects
                                      WHERE namespace = 'SiteA' OR row_doc::text LIKE '%a.example%'$q$) AS t(n bigint)),
          0::bigint, 'attack 1: B''s writer reads none of A''s rejects');
-- 2. ... through a function-free trick: a leaky sub-select in ORDER BY.
SELECT is((SELECT n FROM dblink('wb', $q$SELECT count(*) FROM (SELECT * FROM sessions.import_rejects
                                      ORDER BY (row_doc ->> 'user') LIKE 'a%') s WHERE s.namespace <> 'SiteB'$q$) AS t(n bigint)),
          0::bigint, 'attack 2: B''s writer sees no foreign row by any query shape');
-- 3. Updates A's rejects (no UPDATE privilege at all).
SELECT throws_ok($$SELECT dblink_exec('wb', 'UPDATE sessions.import_rejects SET reason = ''forged'' WHERE namespace = ''SiteA''')$$,
                 '42501', NULL, 'attack 3: B''s writer cannot update rejects');
-- 4. Deletes A's rejects: RLS leaves nothing to delete.
SELECT is((SELECT n FROM dblink('wb', $q$WITH d AS (DELETE FROM sessions.import_rejects WHERE namespace = 'SiteA' RETURNING 1)
                                      SELECT count(*) FROM d$q$) AS t(n bigint)),
          0::bigint, 'attack 4: B''s writer deletes none of A''s rejects');
-- 5. Forges a reject in A's namespace.
SELECT throws_ok($$SELECT dblink_exec('wb', $q$INSERT INTO sessions.import_rejects (source, position, namespace, reason)
                                             VALUES ('powerflex', 1, 'SiteA', 'forged')$q$)$$,
                 '42501', NULL, 'attack 5: B''s writer cannot insert a reject for site A');
-- 6. Forges one through the import, naming A's site.
SELECT throws_ok($$SELECT dblink_exec('wb', $q$SELECT sessions.import_powerflex('[{"session_id": "x"}]', 'SiteA')$q$)$$,
                 '42501', NULL, 'attack 6: B''s writer cannot log rejects for site A through import_powerflex');
-- 7. Moves its own reject into A's namespace (UPDATE) - refused like any update.
SELECT throws_ok($$SELECT dblink_exec('wb', 'UPDATE sessions.import_rejects SET namespace = ''SiteA''')$$,
                 '42501', NULL, 'attack 7: B''s writer cannot move a reject into site A');
-- 8. Empties the table with TRUNCATE.
SELECT throws_ok($$SELECT dblink_exec('wb', 'TRUNCATE sessions.import_rejects')$$,
                 '42501', NULL, 'attack 8: B''s writer cannot truncate');
-- 9. Turns the policy off.
SELECT throws_ok($$SELECT dblink_exec('wb', 'ALTER TABLE sessions.import_rejects DISABLE ROW LEVEL SECURITY')$$,
                 '42501', NULL, 'attack 9: B''s writer cannot disable row-level security');
-- 10. pg_dump without --enable-row-security (row_security = off): refused.
SELECT throws_ok($$SELECT * FROM dblink('wb', 'SET row_security = off; SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)$$,
                 '42501', NULL, 'attack 10: a dump with row_security off is refused, not given every row');
-- 11. pg_dump --enable-row-security (row_security = on, COPY-like full read): own rows only.
SELECT is((SELECT n FROM dblink('wb', 'SET row_security = on; SELECT count(*) FROM ONLY sessions.import_rejects') AS t(n bigint)),
          1::bigint, 'attack 11: a dump with row_security on gets only B''s own reject');
-- 12. SET ROLE to A's writer.
SELECT throws_ok($$SELECT dblink_exec('wb', 'SET ROLE atk_rj_wa')$$, '42501', NULL,
                 'attack 12: B''s writer cannot SET ROLE to A''s writer');
-- 13. The unmapped writer reads.
SELECT is((SELECT n FROM dblink('wu', 'SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)), 0::bigint,
          'attack 13: an unmapped writer reads no rejects');
-- 14. The unmapped writer forges.
SELECT throws_ok($$SELECT dblink_exec('wu', $q$INSERT INTO sessions.import_rejects (source, position, namespace, reason)
                                             VALUES ('powerflex', 1, 'SiteB', 'forged')$q$)$$,
                 '42501', NULL, 'attack 14: an unmapped writer cannot insert a reject');
-- 15. The unmapped writer deletes.
SELECT is((SELECT n FROM dblink('wu', 'WITH d AS (DELETE FROM sessions.import_rejects RETURNING 1) SELECT count(*) FROM d')
              AS t(n bigint)), 0::bigint, 'attack 15: an unmapped writer deletes nothing');
-- 16. The unmapped writer imports bad rows: its rejects have nowhere to go.
SELECT throws_ok($$SELECT dblink_exec('wu', $q$SELECT sessions.import_powerflex('[{"session_id": "u1"}]')$q$)$$,
                 '42501', NULL, 'attack 16: an unmapped writer cannot log rejects under the default namespace');
-- 17. A reader of site A reads A's rejects: readers have no grant.
SELECT throws_ok($$SELECT * FROM dblink('rd', 'SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)$$,
                 '42501', NULL, 'attack 17: a reader cannot read rejects');
-- 18. A reader calls the internal row check.
SELECT throws_ok($$SELECT * FROM dblink('rd', 'SELECT sessions.powerflex_row_problem(''{}'')') AS t(p text)$$,
                 '42501', NULL, 'attack 18: a reader cannot call powerflex_row_problem');
-- 19. A reader inserts.
SELECT throws_ok($$SELECT dblink_exec('rd', $q$INSERT INTO sessions.import_rejects (source, position, namespace, reason)
                                             VALUES ('powerflex', 1, 'SiteA', 'forged')$q$)$$,
                 '42501', NULL, 'attack 19: a reader cannot insert a reject');
-- 20. A role without any extension role reads.
SELECT throws_ok($$SELECT * FROM dblink('no', 'SELECT count(*) FROM sessions.import_rejects') AS t(n bigint)$$,
                 '42501', NULL, 'attack 20: a role without an extension role cannot read rejects');
-- 21. ... or imports.
SELECT throws_ok($$SELECT dblink_exec('no', $q$SELECT sessions.import_powerflex('[]')$q$)$$,
                 '42501', NULL, 'attack 21: a role without an extension role cannot import');

SELECT is(public.rj_state(), (SELECT s FROM before), 'after every attack the rejects are exactly as before');
-- Positive control last: A's writer may delete its own rejects.
SELECT is((SELECT n FROM dblink('wa', 'WITH d AS (DELETE FROM sessions.import_rejects RETURNING 1) SELECT count(*) FROM d')
              AS t(n bigint)), 2::bigint, 'control: a writer deletes its own rejects');

SELECT * FROM finish();

SELECT dblink_disconnect(c) FROM unnest(dblink_get_connections()) AS c;
DELETE FROM sessions.role_namespace WHERE role_name LIKE 'atk_rj_%';
DROP FUNCTION public.atk(text);
DROP FUNCTION public.rj_state();
DROP ROLE atk_rj_wa, atk_rj_wb, atk_rj_wu, atk_rj_rd, atk_rj_no;
