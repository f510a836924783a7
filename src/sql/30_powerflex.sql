-- session_analytics: PowerFlex import, report helpers and the daily chart.
--
-- A PowerFlex sessions export (the API's {"rows": [...], "total_count",
-- "page", "limit"} response, or a bare list of rows) is loaded into
-- sessions.store as kind 'powerflex': namespace = the site named by the call,
-- else the row's "site", else 'powerflex'; external_id = session_id; times
-- from epoch milliseconds; kwh = session_kwh; user_ref = user; the whole row
-- (unknown fields included) in doc. Rows that cannot be stored are skipped,
-- reported by NOTICE and kept in sessions.import_rejects. Each namespace
-- stored is recorded in sessions.site (display name only, no zone).

CREATE TABLE sessions.import_rejects (
    rejected_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source       text        NOT NULL,
    position     bigint      NOT NULL,
    namespace    text        NOT NULL,
    session_id   text,
    reason       text        NOT NULL,
    row_doc      jsonb
);
COMMENT ON TABLE sessions.import_rejects IS
  'Rows an import skipped: when (the importing transaction''s start), source, 1-based position in the export, namespace, session id, reason and the row itself; row-level security by namespace';
COMMENT ON COLUMN sessions.import_rejects.namespace IS
  'The namespace the row was meant for (the site argument, else the row''s site, else powerflex); limits who sees the reject';
COMMENT ON COLUMN sessions.import_rejects.row_doc IS 'The rejected row as given; may hold personal data (user e-mail)';
CREATE INDEX import_rejects_rejected_at_idx ON sessions.import_rejects (rejected_at);
SELECT pg_catalog.pg_extension_config_dump('sessions.import_rejects', '');

-- Rejected rows hold other tenants' personal data: the same policy as the
-- store (the sub-selects become InitPlans, read once per statement).
-- Writers may read, log and delete rejects of their own namespaces only.
ALTER TABLE sessions.import_rejects ENABLE ROW LEVEL SECURITY;
CREATE POLICY import_rejects_by_namespace ON sessions.import_rejects
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));

/*
 * powerflex_row_problem
 *		Why a PowerFlex row cannot be stored, or NULL when it can: the checks
 *		import_powerflex applies to each row before writing anything. Every
 *		field is checked for what the casts and the insert later need, so a
 *		row that passes cannot fail the import:
 *		- session_id: a string or number of 1..200 characters (it is in a
 *		  unique index, whose entries are limited to about 2.7 kB);
 *		- site, user, status: strings when present; site at most 1000 bytes
 *		  (it becomes the namespace, in two unique indexes: with a 200
 *		  character session_id an entry stays under the 2.7 kB limit);
 *		- session_kwh: a number or numeric string from 0 to 1e9; a non-zero
 *		  value below 1e-9 kWh (1 µWh) is refused: no meter reports it, and
 *		  below about 1e-308 float8 cannot hold it at all;
 *		- session_start_time (required), session_end_time: epoch ms from 0 to
 *		  year 9999, as numbers or digit strings;
 *		- updated_at: ISO 8601 as the export writes it (YYYY-MM-DD, optional
 *		  [T ]hh:mm[:ss[.ffffff]], optional Z or +hh[:mm]), a real calendar
 *		  date (the cast, in a block), from 1970 to before 10000 (UTC); no
 *		  special words (now, infinity, epoch).
 *		In C (src/powerflex/powerflex_check.c): the PL/pgSQL version of 0.2.0 cost
 *		about four times as much per row. STABLE, not IMMUTABLE: a zone-less
 *		updated_at is read in the session's TimeZone. PARALLEL UNSAFE:
 *		an unusual updated_at is cast in a subtransaction, which a parallel
 *		query forbids even in its leader. Numeric strings
 *		allow ASCII whitespace around them only.
 */
CREATE FUNCTION sessions.powerflex_row_problem(r jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_powerflex_row_problem'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION sessions.powerflex_row_problem(jsonb) IS
  'Why a PowerFlex export row cannot be imported (no or too long session_id or site, bad, negative, huge or tiny kWh, bad times, end before start...), NULL when it can';

/*
 * powerflex_rows
 *		import_powerflex's rows in one pass (C, src/powerflex/powerflex_check.c):
 *		for each element of rows, in array order, its position (base + its
 *		1-based ordinality), its namespace (the site argument, else the row's
 *		site when it is a usable one: a string of at most 1000 bytes, not
 *		blank, trimmed; else 'powerflex'), its problem (powerflex_row_problem,
 *		or, of valid rows sharing namespace and session_id, "repeated later"
 *		for all but the last) and, for a valid row, the store's typed columns
 *		computed as the import stores them (status trimmed, else ACTIVE or
 *		FINISHED by the end time; times from epoch ms; kwh; user; site;
 *		updated_at, else now()). One pass instead of extracting each column
 *		in SQL and sorting the rows twice (docs/benchmarks.md, issue 14).
 *		STABLE and PARALLEL UNSAFE as powerflex_row_problem.
 */
CREATE FUNCTION sessions.powerflex_rows(rows jsonb, base bigint DEFAULT 0, site text DEFAULT NULL)
RETURNS TABLE("position" bigint, namespace text, problem text, external_id text, status text,
              started_at timestamptz, ended_at timestamptz, kwh float8, user_ref text,
              site_value text, last_updated timestamptz, r jsonb)
AS 'MODULE_PATHNAME', 'sa_powerflex_rows'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) IS
  'The rows of a PowerFlex export as import_powerflex stores them, in order: position, namespace, problem (NULL when the row is stored; earlier duplicates of a session_id are problems) and the typed store columns of each valid row';

/*
 * import_powerflex
 *		Loads a PowerFlex export, both shapes: {"rows": [...], ...} or [...].
 *		Set-based: one statement checks the rows, logs the skipped ones and
 *		upserts the rest keyed by (namespace, 'powerflex', session_id), so a
 *		re-import updates. A later duplicate of a session_id in the same
 *		document wins; the earlier one is skipped and reported. Runs as the
 *		caller: the store's and the rejects' row-level security apply, so a
 *		writer stores and logs rows of its own namespaces only.
 */
CREATE FUNCTION sessions.import_powerflex(doc jsonb, site text DEFAULT NULL)
RETURNS TABLE(imported integer, updated integer, skipped integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    v_rows  pg_catalog.jsonb;
    v_base  pg_catalog.int8 := 0;
    v_rejects pg_catalog.jsonb;
    rej     record;
    n_skip  pg_catalog.int4 := 0;
    n_new   pg_catalog.int4 := 0;
    n_upd   pg_catalog.int4 := 0;
    v_stmt  pg_catalog.text;
    v_done  pg_catalog.bool := false;
    v_fresh pg_catalog.bool;
    probe   record;
    v_same  pg_catalog.bool := true;
    v_hit   pg_catalog.bool;
BEGIN
    IF doc IS NULL THEN
        RAISE EXCEPTION 'import_powerflex: doc is NULL' USING ERRCODE = '22004';
    END IF;
    IF site IS NOT NULL AND pg_catalog.btrim(site) = '' THEN
        RAISE EXCEPTION 'import_powerflex: site must not be empty'
              USING ERRCODE = '22023', HINT = 'Pass NULL to take the site from each row.';
    END IF;
    IF pg_catalog.octet_length(site) > 1000 THEN
        RAISE EXCEPTION 'import_powerflex: site is longer than 1000 bytes'
              USING ERRCODE = '22023', DETAIL = pg_catalog.format('It has %s bytes.', pg_catalog.octet_length(site)),
                    HINT = 'Site names (namespaces) are limited to 1000 bytes (UTF-8).';
    END IF;
    IF pg_catalog.jsonb_typeof(doc) = 'array' THEN
        v_rows := doc;
    ELSIF pg_catalog.jsonb_typeof(doc) = 'object' AND pg_catalog.jsonb_typeof(doc -> 'rows') = 'array' THEN
        v_rows := doc -> 'rows';
        -- Rows are numbered in the whole export: from "offset" + 1 when the
        -- document has it (a streaming client's batches), else from the
        -- API page's first row. Anything odd there numbers from 1.
        IF pg_catalog.jsonb_typeof(doc -> 'offset') = 'number' AND (doc ->> 'offset') ~ '^[0-9]{1,12}$' THEN
            v_base := (doc ->> 'offset')::pg_catalog.int8;
        ELSIF pg_catalog.jsonb_typeof(doc -> 'page') = 'number' AND (doc ->> 'page') ~ '^[1-9][0-9]{0,8}$'
              AND pg_catalog.jsonb_typeof(doc -> 'limit') = 'number' AND (doc ->> 'limit') ~ '^[0-9]{1,9}$' THEN
            v_base := ((doc ->> 'page')::pg_catalog.int8 - 1) * (doc ->> 'limit')::pg_catalog.int8;
        END IF;
    ELSE
        RAISE EXCEPTION 'import_powerflex: doc is not a PowerFlex export'
              USING ERRCODE = '22023',
                    DETAIL = pg_catalog.format('Got a JSON %s%s.', pg_catalog.jsonb_typeof(doc),
                                    CASE WHEN pg_catalog.jsonb_typeof(doc) = 'object' THEN ' without a "rows" array' ELSE '' END),
                    HINT = 'Pass the API response {"rows": [...], "total_count": ..., "page": ..., "limit": ...} or a JSON array of rows.';
    END IF;

    -- One statement: rows checked and typed by powerflex_rows (of valid
    -- rows sharing a session_id the last one wins), skipped ones logged,
    -- the rest upserted in document order. The namespace: the site
    -- argument, else the row's site when it is a usable one (a string of at
    -- most 1000 bytes, not blank), else 'powerflex'; a rejected row is
    -- logged under it too. {conflict} stands for the store insert's
    -- conflict clause: the upsert, or nothing on the fast path below;
    -- {filter} for the look-up that leaves out unchanged rows, or nothing.
    v_stmt := $stmt$
    WITH c AS MATERIALIZED (
        SELECT * FROM sessions.powerflex_rows($1, $2, $3)
    ), logged AS (
        INSERT INTO sessions.import_rejects (source, position, namespace, session_id, reason, row_doc)
        SELECT 'powerflex', c.position, c.namespace,
               CASE WHEN pg_catalog.jsonb_typeof(c.r) OPERATOR(pg_catalog.=) 'object'
                    THEN pg_catalog.left(c.r OPERATOR(pg_catalog.->>) 'session_id', 200) END,
               c.problem, c.r
          FROM c
         WHERE c.problem IS NOT NULL
        RETURNING import_rejects.position, import_rejects.session_id, import_rejects.reason
    ), up AS (
        INSERT INTO sessions.store AS s
               (kind, namespace, external_id, status, started_at, ended_at, kwh,
                user_ref, site, last_updated, doc)
        SELECT 'powerflex', c.namespace, c.external_id, c.status, c.started_at, c.ended_at, c.kwh,
               c.user_ref, c.site_value, c.last_updated, c.r
          FROM c
         WHERE c.problem IS NULL {filter}
         ORDER BY c.position
        {conflict}
        RETURNING (s.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid) AS inserted
    ), sites AS (
        -- Each namespace stored becomes a site: the export names it but
        -- has no zone, so only the display name is filled (when missing).
        -- A site that has one is left out before ON CONFLICT would lock
        -- its row, which made concurrent imports into one site wait for
        -- each other's commit.
        INSERT INTO sessions.site AS t (namespace, display_name)
        SELECT d.namespace, d.namespace
          FROM (SELECT DISTINCT c.namespace FROM c WHERE c.problem IS NULL) d
         WHERE NOT EXISTS (SELECT FROM sessions.site n
                            WHERE n.namespace OPERATOR(pg_catalog.=) d.namespace AND n.display_name IS NOT NULL)
        ON CONFLICT ON CONSTRAINT site_pkey DO UPDATE SET display_name = EXCLUDED.display_name
         WHERE t.display_name IS NULL
    )
    SELECT (SELECT pg_catalog.count(*) FILTER (WHERE up.inserted) FROM up),
           -- every stored row that was not inserted was there: updated or unchanged
           (SELECT pg_catalog.count(*) FROM c WHERE c.problem IS NULL)
               OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(*) FILTER (WHERE up.inserted) FROM up),
           (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('position', l.position, 'session_id', l.session_id,
                                                         'reason', l.reason) ORDER BY l.position), '[]')
              FROM logged l)
    $stmt$;

    -- The probes: the batch's first, middle and last rows, looked up in
    -- the store. One look-up per probed row: a router query on a Citus
    -- cluster, which does not plan a join of the store with the function's
    -- rows.
    -- - None of them stored (a new export): the fast path. The batch is
    --   inserted without the ON CONFLICT arbiter, whose probe of
    --   store_external_key before each row costs about a third of a new
    --   row's insert (docs/benchmarks.md, issue 14). A row that is stored
    --   after all (or is being stored by another transaction) makes the
    --   insert fail with unique_violation; the subtransaction takes back
    --   everything the attempt wrote, its events and summary changes
    --   included, and the upsert below runs instead.
    -- - All of them stored and unchanged (the same export again): the
    --   upsert leaves out the rows whose stored version is byte for byte
    --   the same (the {filter} look-up). The upsert would not write them
    --   either, but ON CONFLICT locks each one before it compares, which
    --   writes the row's page and WAL. A row a concurrent transaction
    --   changes after the statement's snapshot is left to that change, as
    --   if this import had run first. Not on Citus, which cannot plan that
    --   correlated look-up against the function's rows. The look-up is a
    --   scalar sub-select, which always runs once per row by the whole
    --   key: as NOT EXISTS it could become a join, and when the store's
    --   statistics say it is empty (emptied and vacuumed, not analyzed
    --   since) the planner joined each row to a scan of every PowerFlex
    --   row, minutes per batch (docs/benchmarks.md, issue 14).
    -- - Otherwise the upsert alone.
    -- The outcome is the upsert's either way; a wrong guess costs time
    -- (one attempt of the batch, or one look-up per row). The probe's and
    -- the filter's comparison name the columns the upsert sets and compares:
    -- a column added there belongs in all four lists, or the filter leaves
    -- out rows that changed in it.
    v_fresh := true;
    FOR probe IN SELECT p.*
                   FROM sessions.powerflex_rows(
                            pg_catalog.jsonb_build_array(v_rows OPERATOR(pg_catalog.->) 0,
                                v_rows OPERATOR(pg_catalog.->) (pg_catalog.jsonb_array_length(v_rows) OPERATOR(pg_catalog./) 2),
                                v_rows OPERATOR(pg_catalog.->) -1),
                            0, import_powerflex.site) p
                  WHERE p.problem IS NULL LOOP
        SELECT pg_catalog.record_image_eq(
                   ROW(s.status, s.started_at, s.ended_at, s.kwh, s.user_ref, s.site, s.last_updated, s.doc),
                   ROW(probe.status, probe.started_at, probe.ended_at, probe.kwh, probe.user_ref, probe.site_value,
                       probe.last_updated, probe.r))
          INTO v_hit
          FROM sessions.store s
         WHERE s.namespace OPERATOR(pg_catalog.=) probe.namespace AND s.kind OPERATOR(pg_catalog.=) 'powerflex'
           AND s.external_id OPERATOR(pg_catalog.=) probe.external_id;
        IF FOUND THEN
            v_fresh := false;
            v_same := v_same AND v_hit;
        ELSE
            v_same := false;
        END IF;
    END LOOP;
    v_stmt := pg_catalog.replace(v_stmt, '{filter}',
        CASE WHEN v_fresh OR NOT v_same OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN ''
             ELSE $filter$
           AND NOT COALESCE((SELECT pg_catalog.record_image_eq(
                                         ROW(o.status, o.started_at, o.ended_at, o.kwh, o.user_ref, o.site, o.last_updated, o.doc),
                                         ROW(c.status, c.started_at, c.ended_at, c.kwh, c.user_ref, c.site_value, c.last_updated, c.r))
                               FROM sessions.store o
                              WHERE o.namespace OPERATOR(pg_catalog.=) c.namespace AND o.kind OPERATOR(pg_catalog.=) 'powerflex'
                                AND o.external_id OPERATOR(pg_catalog.=) c.external_id), false)$filter$
        END);
    IF v_fresh THEN
        BEGIN
            EXECUTE pg_catalog.replace(v_stmt, '{conflict}', '')
               INTO n_new, n_upd, v_rejects USING v_rows, v_base, import_powerflex.site;
            v_done := true;
        EXCEPTION WHEN unique_violation THEN
            v_done := false;
        END;
    END IF;
    IF NOT v_done THEN
        -- A stored row the export repeats byte for byte (record_image_ne,
        -- the *<> operator, compares the values' binary images, so 1.0 and
        -- 1.00 in doc or -0 and 0 differ) is not written again: no new row
        -- version, index entries, events or summary changes. It counts as
        -- updated.
        EXECUTE pg_catalog.replace(v_stmt, '{conflict}', $upsert$
        ON CONFLICT (namespace, kind, external_id) DO UPDATE
           SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
               ended_at = EXCLUDED.ended_at, kwh = EXCLUDED.kwh,
               user_ref = EXCLUDED.user_ref, site = EXCLUDED.site,
               last_updated = EXCLUDED.last_updated, doc = EXCLUDED.doc
         WHERE pg_catalog.record_image_ne(
                   ROW(s.status, s.started_at, s.ended_at, s.kwh, s.user_ref, s.site, s.last_updated, s.doc),
                   ROW(EXCLUDED.status, EXCLUDED.started_at, EXCLUDED.ended_at, EXCLUDED.kwh,
                       EXCLUDED.user_ref, EXCLUDED.site, EXCLUDED.last_updated, EXCLUDED.doc))$upsert$)
           INTO n_new, n_upd, v_rejects USING v_rows, v_base, import_powerflex.site;
    END IF;

    n_skip := pg_catalog.jsonb_array_length(v_rejects);
    FOR rej IN SELECT * FROM pg_catalog.jsonb_to_recordset(v_rejects) AS x(position pg_catalog.int8, session_id pg_catalog.text, reason pg_catalog.text) LOOP
        IF rej.session_id IS NOT NULL THEN
            RAISE NOTICE 'powerflex row % skipped: %', rej.position, rej.reason
                  USING DETAIL = pg_catalog.format('session_id: %s', rej.session_id);
        ELSE
            RAISE NOTICE 'powerflex row % skipped: %', rej.position, rej.reason;
        END IF;
    END LOOP;
    RETURN QUERY SELECT n_new, n_upd, n_skip;
END
$$;
COMMENT ON FUNCTION sessions.import_powerflex(jsonb, text) IS
  'Imports a PowerFlex sessions export ({"rows": [...]} or [...]) into sessions.store, idempotent on session_id; returns imported, updated and skipped counts (reasons by NOTICE and in sessions.import_rejects, rows numbered from "offset" or the page)';

-- Writers read, log and delete their own namespaces' rejects (RLS above);
-- nobody updates them. import_powerflex runs as the caller and calls
-- powerflex_rows, so writers keep EXECUTE on it and on powerflex_row_problem
-- (pure functions: no table access, no side effects); readers and PUBLIC
-- do not.
REVOKE ALL ON sessions.import_rejects FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON sessions.import_rejects TO session_analytics_writer;
REVOKE ALL ON FUNCTION sessions.powerflex_row_problem(jsonb), sessions.import_powerflex(jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.powerflex_row_problem(jsonb) TO session_analytics_writer;
GRANT EXECUTE ON FUNCTION sessions.powerflex_rows(jsonb, bigint, text) TO session_analytics_writer;
GRANT EXECUTE ON FUNCTION sessions.import_powerflex(jsonb, text) TO session_analytics_writer;

/*
 * user_pseudonym
 *		A stable stand-in for a user reference, for reports that must not
 *		show personal data: the same user always gets the same pseudonym.
 */
CREATE FUNCTION sessions.user_pseudonym(user_ref text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'user-' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.md5(user_ref), 10);
COMMENT ON FUNCTION sessions.user_pseudonym(text) IS
  'Stable pseudonym for a user reference (user- and 10 hex digits of its MD5); not a secret: whoever knows an address can recognise its pseudonym';

/*
 * anonymize_doc
 *		A session document safe to print: the "user" member replaced by the
 *		user's pseudonym, and anything else that looks like an e-mail address
 *		replaced by "(redacted)".
 */
CREATE FUNCTION sessions.anonymize_doc(doc jsonb, user_ref text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.regexp_replace(
           (CASE WHEN pg_catalog.jsonb_typeof(doc) OPERATOR(pg_catalog.=) 'object'
                      AND doc OPERATOR(pg_catalog.?) 'user'
                 THEN doc OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('user', sessions.user_pseudonym(user_ref))
                 ELSE doc END)::text,
           '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+', '(redacted)', 'g')::jsonb;
COMMENT ON FUNCTION sessions.anonymize_doc(jsonb, text) IS
  'The document with its "user" member replaced by sessions.user_pseudonym(user_ref) and every other e-mail-like text redacted';

REVOKE ALL ON FUNCTION sessions.user_pseudonym(text), sessions.anonymize_doc(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.user_pseudonym(text) TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.anonymize_doc(jsonb, text) TO session_analytics_reader;

/*
 * daily_chart_svg
 *		A line chart of the daily empty and micro percentages of a summary
 *		(read through sessions.days) as a standalone SVG document: two
 *		panels, each its own scale, so a few percent of micro sessions
 *		still read beside 60 % empty ones.
 */
CREATE FUNCTION sessions.daily_chart_svg(stats sessions.session_stats, title text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'sa_daily_chart_svg'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) IS
  'SVG line chart of the daily empty and micro percentages of a session_stats summary: two panels (empty above, micro below), each with its own percentage scale and grid, on one dated x axis; markers, legend, title';
REVOKE ALL ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.daily_chart_svg(sessions.session_stats, text) TO session_analytics_reader;
