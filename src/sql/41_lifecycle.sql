-- session_analytics: invoice-style session lifecycle (KSeF-like).
--
-- An invoice-style session is a row of sessions.store with kind 'invoice':
-- namespace = type ('online' | 'batch'), external_id = reference number,
-- status = status name, started_at = date created, ended_at set exactly when
-- the session closes, reaches a final status or expires, valid_until.
-- doc holds {status_code, description, metadata, invoice_count, successful,
-- failed}. Leases and caller secrets live in their own tables.
--
-- Status codes (docs/lifecycle.md):
--   100 OPEN, 150 PROCESSING, 170 CLOSED, 200 SUCCEEDED,
--   4xx FAILED (e.g. 415, 445), 440 CANCELLED (EXPIRED when ended by expiry).
-- Legal moves: 100 -> 150 170 4xx 440; 150 -> 170 200 4xx 440;
--              170 -> 150 200 4xx; 200, 4xx and 440 are final.

-- References are unique within a type (store_external_key), not across
-- types: a global unique index would tell a writer that a reference exists
-- in a type it cannot see, and let it take another party's reference first.
-- Look-ups by reference alone (every function here) need an index without
-- the namespace in front.
CREATE INDEX store_invoice_reference_idx ON sessions.store (external_id) WHERE kind = 'invoice';
-- list_sessions: newest first within a type, keyset on (started_at, key).
CREATE INDEX store_invoice_list_idx ON sessions.store (namespace, started_at DESC, session_key DESC)
    WHERE kind = 'invoice';
-- expire_sessions: the open rows that carry a deadline.
CREATE INDEX store_open_valid_until_idx ON sessions.store (valid_until)
    WHERE ended_at IS NULL AND valid_until IS NOT NULL;

-- The key that signs continuation tokens and state documents: 32 random
-- bytes, one per database. No role has a grant on it (the owner aside); the
-- C code (src/lifecycle/lifecycle_sign.c) reads it with a table scan, which
-- no ACL or policy applies to, so tenants never see it. It is not dumped: a
-- restored database signs with a new key and earlier tokens and documents
-- are refused. node_databases is NULL on one node; on a Citus cluster (a
-- reference table there, distribute()) it binds the key to the database of
-- every node, {"<Citus group>": <database OID>, ...}: each node signs and
-- verifies only where it names this database, framing the messages with
-- the coordinator's (group 0) OID (docs/lifecycle.md, "On a Citus cluster").
CREATE TABLE sessions.lifecycle_key (
    id          int         NOT NULL DEFAULT 1 PRIMARY KEY CHECK (id OPERATOR(pg_catalog.=) 1),
    hmac_key    bytea       NOT NULL CHECK (pg_catalog.octet_length(hmac_key) OPERATOR(pg_catalog.=) 32),
    rotated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    node_databases jsonb    CHECK (pg_catalog.jsonb_typeof(node_databases) OPERATOR(pg_catalog.=) 'object')
);
COMMENT ON TABLE sessions.lifecycle_key IS
  'HMAC-SHA256 key of continuation tokens and state documents (one row); no grants, read by the extension''s C code only';
COMMENT ON COLUMN sessions.lifecycle_key.node_databases IS
  'NULL on one node; on a Citus cluster {"<group id>": <database OID>} of every node, the databases the key signs for';
REVOKE ALL ON sessions.lifecycle_key FROM PUBLIC;

/*
 * lifecycle_key_changed
 *		Statement trigger: every backend forgets its cached key when the
 *		table changes (rotation, a key restored from a backup, a delete).
 */
CREATE FUNCTION sessions.lifecycle_key_changed()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_lifecycle_key_changed';
COMMENT ON FUNCTION sessions.lifecycle_key_changed() IS
  'Trigger on sessions.lifecycle_key only: invalidates the signing key cached by every backend';
REVOKE ALL ON FUNCTION sessions.lifecycle_key_changed() FROM PUBLIC;
CREATE TRIGGER lifecycle_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions.lifecycle_key
    FOR EACH STATEMENT EXECUTE FUNCTION sessions.lifecycle_key_changed();

/*
 * lifecycle_key_nodes
 *		On a Citus coordinator: {"<group id>": <database OID>, ...} of this
 *		database on every node (this one's group is 0), asked of each node
 *		now. What rotate_lifecycle_key() and distribute() bind the signing
 *		key to on a cluster. Internal (owner only).
 */
CREATE FUNCTION sessions.lifecycle_key_nodes()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    nodes pg_catalog.jsonb := '{}';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'lifecycle_key_nodes: Citus is not loaded in this database' USING ERRCODE = '0A000';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'the signing key of a cluster changes on the coordinator only'
              USING ERRCODE = '55000',
                    HINT = 'Run SELECT sessions.rotate_lifecycle_key() on the coordinator.';
    END IF;
    FOR r IN SELECT * FROM pg_catalog.run_command_on_all_nodes(
                 $q$SELECT pg_catalog.jsonb_build_object(g.groupid::pg_catalog.text, d.oid::pg_catalog.int8)
                      FROM pg_catalog.pg_dist_local_group g, pg_catalog.pg_database d
                     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()$q$) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'could not read the database OID of node %: %', r.nodeid, r.result
                  USING ERRCODE = '08006',
                        HINT = 'Every node must be reachable to bind the signing key to the cluster''s databases.';
        END IF;
        nodes := nodes OPERATOR(pg_catalog.||) r.result::pg_catalog.jsonb;
    END LOOP;
    IF NOT (nodes OPERATOR(pg_catalog.?) '0') THEN
        RAISE EXCEPTION 'the cluster''s nodes did not include the coordinator' USING ERRCODE = '55000',
              HINT = 'Register the coordinator with citus_set_coordinator_host() (docs/scale-out.md).';
    END IF;
    RETURN nodes;
END
$$;
COMMENT ON FUNCTION sessions.lifecycle_key_nodes() IS
  'Citus coordinator: {"<group id>": <database OID>} of this database on every node, what the signing key is bound to on a cluster (internal)';
REVOKE ALL ON FUNCTION sessions.lifecycle_key_nodes() FROM PUBLIC;

/*
 * rotate_lifecycle_key
 *		A new random key (pg_strong_random); every token and state document
 *		issued before is refused afterwards. Owner only. On a Citus cluster
 *		(coordinator only): the key of every node, bound anew to the
 *		database of each (lifecycle_key_nodes).
 */
CREATE FUNCTION sessions.rotate_lifecycle_key()
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_rotate_lifecycle_key';
COMMENT ON FUNCTION sessions.rotate_lifecycle_key() IS
  'Replaces the database''s signing key with 32 random bytes (on a Citus cluster: on every node, run on the coordinator); earlier continuation tokens and state documents are refused (extension owner only)';
REVOKE ALL ON FUNCTION sessions.rotate_lifecycle_key() FROM PUBLIC;
SELECT sessions.rotate_lifecycle_key();

/*
 * invoice_status_name
 *		Status name for a code; NULL for a code that is not a status.
 */
CREATE FUNCTION sessions.invoice_status_name(code int)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN code = 100 THEN 'OPEN'
    WHEN code = 150 THEN 'PROCESSING'
    WHEN code = 170 THEN 'CLOSED'
    WHEN code = 200 THEN 'SUCCEEDED'
    WHEN code = 440 THEN 'CANCELLED'
    WHEN code BETWEEN 400 AND 499 THEN 'FAILED'
END;
COMMENT ON FUNCTION sessions.invoice_status_name(int) IS
  'Invoice-style status name for a code (100 OPEN, 150 PROCESSING, 170 CLOSED, 200 SUCCEEDED, 440 CANCELLED, other 4xx FAILED)';

/*
 * invoice_status_description
 *		Default description of a code, used when the caller gives none.
 */
CREATE FUNCTION sessions.invoice_status_description(code int)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN code = 100 THEN 'Session open'
    WHEN code = 150 THEN 'Processing'
    WHEN code = 170 THEN 'Session closed'
    WHEN code = 200 THEN 'Processed successfully'
    WHEN code = 415 THEN 'Failed: the session key could not be decrypted'
    WHEN code = 440 THEN 'Session cancelled'
    WHEN code = 445 THEN 'Failed: no valid items'
    WHEN code BETWEEN 400 AND 499 THEN 'Failed'
END;
COMMENT ON FUNCTION sessions.invoice_status_description(int) IS
  'Default description of an invoice-style status code';

/*
 * invoice_sessions
 *		Invoice-style rows with their status as of now: an OPEN or
 *		PROCESSING row past valid_until reads as 440 EXPIRED, ended at
 *		valid_until. status_doc is the session_status() document.
 */
CREATE VIEW sessions.invoice_sessions WITH (security_invoker = true) AS
SELECT v.*,
       pg_catalog.jsonb_build_object(
           'reference', v.reference,
           'type', v.type,
           'status', pg_catalog.jsonb_build_object('code', v.code, 'name', v.name, 'description', v.description),
           'date_created', v.date_created,
           'date_updated', v.date_updated,
           'date_ended', v.date_ended,
           'valid_until', v.valid_until,
           'invoice_count', v.invoice_count,
           'successful', v.successful,
           'failed', v.failed) AS status_doc
  FROM (
    SELECT s.session_key, s.namespace AS type, s.external_id AS reference,
           CASE WHEN x.expired THEN 440 ELSE (s.doc ->> 'status_code')::int END AS code,
           CASE WHEN x.expired THEN 'EXPIRED' ELSE s.status END AS name,
           CASE WHEN x.expired THEN 'Session expired: valid_until passed' ELSE s.doc ->> 'description' END AS description,
           s.started_at AS date_created,
           CASE WHEN x.expired THEN greatest(s.valid_until, s.last_updated) ELSE s.last_updated END AS date_updated,
           CASE WHEN x.expired THEN greatest(s.valid_until, s.started_at) ELSE s.ended_at END AS date_ended,
           s.valid_until,
           coalesce((s.doc ->> 'invoice_count')::bigint, 0) AS invoice_count,
           coalesce((s.doc ->> 'successful')::bigint, 0) AS successful,
           coalesce((s.doc ->> 'failed')::bigint, 0) AS failed,
           coalesce(s.doc -> 'metadata', '{}') AS metadata
      FROM sessions.store s
     CROSS JOIN LATERAL (SELECT s.ended_at IS NULL AND s.valid_until <= pg_catalog.now() AS expired) x
     WHERE s.kind = 'invoice') v;
COMMENT ON VIEW sessions.invoice_sessions IS
  'Invoice-style sessions with their status as of now (open past valid_until reads as 440 EXPIRED)';
GRANT SELECT ON sessions.invoice_sessions TO session_analytics_reader;

/*
 * invoice_row
 *		Locks an invoice-style session by reference (FOR UPDATE). An open row
 *		past valid_until is written as expired on the way, so the caller sees
 *		the same status a reader would.
 */
CREATE FUNCTION sessions.invoice_row(p_reference text)
RETURNS sessions.store
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    x sessions.store;
    ns pg_catalog.text;
    n pg_catalog.int4 := 0;
BEGIN
    IF coalesce(p_reference, '') = '' THEN
        RAISE EXCEPTION 'reference must not be empty' USING ERRCODE = '22023';
    END IF;
    -- References are unique within a type only: a role that sees two types
    -- may see one reference twice, and must not act on either by chance.
    -- The types (namespaces) first, up to two, without a lock; then each row
    -- locked by its whole key: Citus locks only in a query that names the
    -- distribution column, and the unlocked probe asks every shard there
    -- (docs/scale-out.md, "Look-ups without the namespace"). No
    -- subtransaction (which would take a subxid per call).
    FOREACH ns IN ARRAY ARRAY(SELECT s.namespace FROM sessions.store s
                               WHERE s.kind = 'invoice' AND s.external_id = p_reference LIMIT 2) LOOP
        SELECT * INTO x FROM sessions.store s
         WHERE s.namespace = ns AND s.kind = 'invoice' AND s.external_id = p_reference
           FOR UPDATE;
        IF x.session_key IS NOT NULL THEN
            n := n + 1;
            r := x;
        END IF;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'session "%" does not exist', (CASE WHEN pg_catalog.length(p_reference) > 64 THEN pg_catalog.left(p_reference, 64) || '...' ELSE p_reference END)
            USING ERRCODE = 'P0002', HINT = 'Open one with sessions.open_session().';
    ELSIF n > 1 THEN
        RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(p_reference) > 64 THEN pg_catalog.left(p_reference, 64) || '...' ELSE p_reference END)
            USING ERRCODE = '21000',
                  HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END IF;
    -- A due expiry is written first (the row is locked already), so the
    -- caller acts on the status a reader sees.
    IF r.ended_at IS NULL AND r.valid_until <= pg_catalog.now() THEN
        UPDATE sessions.store s
           SET status = 'EXPIRED', ended_at = GREATEST(r.valid_until, r.started_at), last_updated = pg_catalog.now(),
               doc = s.doc || '{"status_code": 440, "description": "Session expired: valid_until passed"}'::jsonb
         WHERE s.session_key = r.session_key AND s.namespace = r.namespace
        RETURNING * INTO r;
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION sessions.invoice_row(text) IS
  'Locks an invoice-style session by reference (22023 empty, P0002 unknown, 21000 when the caller sees it in two types), writing a due expiry first';

/*
 * invoice_reference
 *		A new reference number: YYYYMMDD-S{O|B}-XXXXXXXXXX-XXXXXXXXXX-CC with
 *		the UTC date, O(nline)/B(atch), 20 random upper-case hex digits and a
 *		two-digit hex check (first byte of SHA-256 of the rest).
 */
CREATE FUNCTION sessions.invoice_reference(type text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    h text := pg_catalog.upper(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''));
    body text;
BEGIN
    body := pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-S' || CASE type WHEN 'batch' THEN 'B' ELSE 'O' END
            || '-' || pg_catalog.substr(h, 1, 10) || '-' || pg_catalog.substr(h, 13, 10);
    RETURN body || '-' || pg_catalog.upper(pg_catalog.substr(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(body, 'UTF8')), 'hex'), 1, 2));
END
$$;
COMMENT ON FUNCTION sessions.invoice_reference(text) IS
  'Allocates a reference number YYYYMMDD-SO|SB-<10 hex>-<10 hex>-<2 hex check>';

/*
 * open_session
 *		Opens an invoice-style session (status 100) and returns its reference.
 */
CREATE FUNCTION sessions.open_session(
    type text,
    valid_for interval DEFAULT '12 hours',
    reference text DEFAULT NULL,
    metadata jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    ref text := reference;
BEGIN
    IF type IS NULL OR type NOT IN ('online', 'batch') THEN
        RAISE EXCEPTION 'type must be ''online'' or ''batch''' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(pg_catalog.quote_literal(type), 'NULL'));
    END IF;
    IF valid_for IS NULL OR valid_for <= interval '0' OR NOT pg_catalog.isfinite(pg_catalog.now() + valid_for) THEN
        RAISE EXCEPTION 'valid_for must be a positive interval' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(valid_for::text, 'NULL'));
    END IF;
    IF ref IS NOT NULL AND ref !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' THEN
        RAISE EXCEPTION 'reference must be 1-64 characters of letters, digits, ".", "_" or "-"'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('Got %s.', pg_catalog.quote_literal((CASE WHEN pg_catalog.length(ref) > 64 THEN pg_catalog.left(ref, 64) || '...' ELSE ref END))),
                  HINT = 'Pass NULL to have one allocated.';
    END IF;
    IF metadata IS NULL OR pg_catalog.jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF pg_catalog.octet_length(metadata::text) > 65536 THEN
        RAISE EXCEPTION 'metadata too large: % bytes', pg_catalog.octet_length(metadata::text)
            USING ERRCODE = '22001', DETAIL = 'The limit is 65536 bytes of JSON text.';
    END IF;
    ref := coalesce(ref, sessions.invoice_reference(type));
    BEGIN
        INSERT INTO sessions.store (kind, namespace, external_id, status, started_at, valid_until, doc)
        VALUES ('invoice', type, ref, 'OPEN', pg_catalog.now(), pg_catalog.now() + valid_for,
                pg_catalog.jsonb_build_object('status_code', 100, 'description', sessions.invoice_status_description(100),
                                   'metadata', metadata, 'invoice_count', 0, 'successful', 0, 'failed', 0));
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'session "%" already exists', ref USING ERRCODE = '23505';
    END;
    RETURN ref;
END
$$;
COMMENT ON FUNCTION sessions.open_session(text, interval, text, jsonb) IS
  'Opens an invoice-style session (status 100) valid for valid_for; returns its reference (allocated when NULL)';

/*
 * set_session_status
 *		Moves a session to a new status code if the move is legal; setting
 *		the current code again only refreshes the description. Closing or a
 *		final status sets ended_at once.
 */
CREATE FUNCTION sessions.set_session_status(reference text, code int, description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    cur int;
    v_status pg_catalog.text;
    v_ended pg_catalog.timestamptz;
    v_patch pg_catalog.jsonb;
BEGIN
    IF sessions.invoice_status_name(code) IS NULL THEN
        RAISE EXCEPTION 'status code % is not a session status', coalesce(code::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Codes: 100, 150, 170, 200, 440 and other 4xx (failed).';
    END IF;
    r := sessions.invoice_row(reference);
    cur := (r.doc ->> 'status_code')::int;
    -- Legal moves: 100 -> 150 170 4xx 440; 150 -> 170 200 4xx 440;
    -- 170 -> 150 200 4xx; 200, 4xx and 440 are final.
    IF cur <> code AND NOT (CASE
           WHEN cur = 100 THEN code IN (150, 170) OR code BETWEEN 400 AND 499
           WHEN cur = 150 THEN code IN (170, 200) OR code BETWEEN 400 AND 499
           WHEN cur = 170 THEN code IN (150, 200) OR (code BETWEEN 400 AND 499 AND code <> 440)
           ELSE false END) THEN
        RAISE EXCEPTION 'session "%" cannot move from status % to %', reference, cur, code
            USING ERRCODE = '55000',
                  DETAIL = pg_catalog.format('The session is %s (%s).', r.status, cur),
                  HINT = CASE WHEN cur NOT IN (100, 150, 170) THEN 'The session has reached a final status.'
                              ELSE 'Legal moves: 100 -> 150/170/4xx/440, 150 -> 170/200/4xx/440, 170 -> 150/200/4xx.' END;
    END IF;
    -- The new values from the locked row r (the row as stored): Citus
    -- allows no non-IMMUTABLE function inside CASE or COALESCE of an UPDATE.
    v_status := CASE WHEN cur = code THEN r.status ELSE sessions.invoice_status_name(code) END;
    v_ended := CASE WHEN code IN (100, 150) THEN r.ended_at ELSE coalesce(r.ended_at, greatest(pg_catalog.now(), r.started_at)) END;
    v_patch := pg_catalog.jsonb_build_object('status_code', code, 'description',
                   coalesce(description, CASE WHEN cur = code THEN r.doc ->> 'description' END,
                            sessions.invoice_status_description(code)));
    UPDATE sessions.store s
       SET status = v_status, ended_at = v_ended, last_updated = pg_catalog.now(), doc = s.doc || v_patch
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN sessions.session_status(reference);
END
$$;

/*
 * count_session_item
 *		Counts one processed item (invoice) as successful or failed; allowed
 *		until the session reaches a final status.
 */
CREATE FUNCTION sessions.count_session_item(reference text, ok boolean)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF ok IS NULL THEN
        RAISE EXCEPTION 'ok must not be NULL' USING ERRCODE = '22004';
    END IF;
    r := sessions.invoice_row(reference);
    IF (r.doc ->> 'status_code')::int NOT IN (100, 150, 170) THEN
        RAISE EXCEPTION 'session "%" is % and no longer counts items', reference, r.status
            USING ERRCODE = '55000';
    END IF;
    UPDATE sessions.store s
       SET last_updated = pg_catalog.now(),
           doc = s.doc || pg_catalog.jsonb_build_object(
               'invoice_count', coalesce((s.doc ->> 'invoice_count')::bigint, 0) + 1,
               'successful', coalesce((s.doc ->> 'successful')::bigint, 0) + ok::int,
               'failed', coalesce((s.doc ->> 'failed')::bigint, 0) + (NOT ok)::int)
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace
    -- The counters are built from the returned document: Citus allows no
    -- non-IMMUTABLE function (jsonb_build_object) in RETURNING.
    RETURNING s.doc INTO STRICT r.doc;
    RETURN pg_catalog.jsonb_build_object('invoice_count', (r.doc ->> 'invoice_count')::bigint,
                                         'successful', (r.doc ->> 'successful')::bigint,
                                         'failed', (r.doc ->> 'failed')::bigint);
END
$$;
COMMENT ON FUNCTION sessions.count_session_item(text, boolean) IS
  'Counts one processed item as successful (ok) or failed; returns {invoice_count, successful, failed}';

/*
 * session_status
 *		Status document: {reference, type, status {code, name, description},
 *		date_created, date_updated, date_ended, valid_until, counters}.
 */
-- VOLATILE, not STABLE: a fresh snapshot per call, so a session opened
-- earlier in the same statement is found (docs/lifecycle.md, "One statement").
CREATE FUNCTION sessions.session_status(reference text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    d jsonb;
BEGIN
    IF coalesce(reference, '') = '' THEN
        RAISE EXCEPTION 'reference must not be empty' USING ERRCODE = '22023';
    END IF;
    -- STRICT fetches a second row only to see whether there is one: the
    -- ambiguity check costs no second query (references are unique within
    -- a type only, and a role that sees both types may see one twice).
    BEGIN
        SELECT v.status_doc INTO STRICT d
          FROM sessions.invoice_sessions v WHERE v.reference = session_status.reference;
    EXCEPTION
        WHEN no_data_found THEN
            RAISE EXCEPTION 'session "%" does not exist', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END) USING ERRCODE = 'P0002';
        WHEN too_many_rows THEN
            RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END)
                USING ERRCODE = '21000',
                      HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END;
    RETURN d;
END
$$;
COMMENT ON FUNCTION sessions.session_status(text) IS
  'Status of an invoice-style session: status {code, name, description}, dates, valid_until, counters';

COMMENT ON FUNCTION sessions.set_session_status(text, int, text) IS
  'Moves an invoice-style session to a status code if legal (55000 otherwise); returns session_status()';

/*
 * continuation_token / continuation_cursor
 *		The signed keyset cursor of list_sessions() (src/lifecycle_sign.c):
 *		base64url(JSON {v, q, c, k}) "." hex HMAC-SHA256. A token is made
 *		only for a row the caller can see (its date created is re-read under
 *		the caller's row-level security) and every field is checked on the
 *		way back. Tokens carry no rights: every page is read under RLS.
 */
CREATE FUNCTION sessions.continuation_token(q text, type text, session_key uuid)
RETURNS text
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_continuation_token';
COMMENT ON FUNCTION sessions.continuation_token(text, text, uuid) IS
  'Continuation token of list_sessions() after the visible invoice-style session (type, session_key), bound to the filter hash q';

CREATE FUNCTION sessions.continuation_cursor(token text, q text, OUT c timestamptz, OUT k uuid)
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_continuation_cursor';
COMMENT ON FUNCTION sessions.continuation_cursor(text, text) IS
  'Checks a list_sessions() continuation token for the filter hash q (22023 when altered, foreign or of another query); returns its (date created, key)';

/*
 * list_sessions
 *		Newest first, keyset paging on (date created, key). q binds a token
 *		to the query's filters, (c, k) is the last row returned. Rows
 *		inserted while paging are newer than the cursor and never shift
 *		later pages.
 */
CREATE FUNCTION sessions.invoice_list_page(
    type text, statuses int[], created_from timestamptz, created_to timestamptz,
    page_size int, continuation text, OUT page jsonb, OUT next_token text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- A generic plan cannot see the cursor and may walk another index from the
-- newest row on; planning each page with its values keeps the keyset range.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    q text;
    after_c timestamptz;
    after_k uuid;
    n int;
    last_k uuid;
BEGIN
    IF type IS NULL OR type NOT IN ('online', 'batch') THEN
        RAISE EXCEPTION 'type must be ''online'' or ''batch''' USING ERRCODE = '22023';
    END IF;
    IF page_size IS NULL OR page_size NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'page_size must be between 1 and 1000' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', coalesce(page_size::text, 'NULL'));
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest(statuses) c WHERE sessions.invoice_status_name(c) IS NULL) THEN
        RAISE EXCEPTION 'statuses contains a code that is not a session status' USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Got %s.', (CASE WHEN pg_catalog.length(statuses::pg_catalog.text) > 64 THEN pg_catalog.left(statuses::pg_catalog.text, 64) || '...' ELSE statuses::pg_catalog.text END));
    END IF;
    q := pg_catalog.md5(pg_catalog.concat_ws('|', type,
             (SELECT pg_catalog.array_agg(DISTINCT c ORDER BY c) FROM pg_catalog.unnest(statuses) c)::text,
             -- epoch seconds as numeric text: exact, and defined for +-infinity
             EXTRACT(epoch FROM created_from)::pg_catalog.text,
             EXTRACT(epoch FROM created_to)::pg_catalog.text));

    IF continuation IS NOT NULL THEN
        SELECT t.c, t.k INTO after_c, after_k FROM sessions.continuation_cursor(continuation, q) t;
    END IF;

    SELECT coalesce(pg_catalog.jsonb_agg(p.status_doc ORDER BY p.rn) FILTER (WHERE p.rn <= page_size), '[]'),
           pg_catalog.count(*),
           (pg_catalog.array_agg(p.session_key) FILTER (WHERE p.rn = page_size))[1]
      INTO page, n, last_k
      FROM (SELECT v.status_doc, v.session_key,
                   pg_catalog.row_number() OVER (ORDER BY v.date_created DESC, v.session_key DESC) AS rn
              FROM sessions.invoice_sessions v
             WHERE v.type = invoice_list_page.type
               AND (statuses IS NULL OR v.code = ANY (statuses))
               AND v.date_created >= coalesce(created_from, '-infinity')
               AND v.date_created < coalesce(created_to, 'infinity')
               -- One row comparison, no OR: the index range starts at the cursor.
               AND (v.date_created, v.session_key)
                   < (coalesce(after_c, 'infinity'), coalesce(after_k, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
             ORDER BY v.date_created DESC, v.session_key DESC
             LIMIT page_size + 1) p;

    IF n > page_size THEN
        -- One row more than a page exists: point the token after this page.
        next_token := sessions.continuation_token(q, type, last_k);
    END IF;
END
$$;
COMMENT ON FUNCTION sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text) IS
  'One page of list_sessions(): the items and the next continuation token (NULL on the last page)';

-- type defaults to 'online' (ksef2's QuerySessionsList(session_type=ONLINE)),
-- so list_sessions() with no argument lists online sessions.
CREATE FUNCTION sessions.list_sessions(
    type text DEFAULT 'online',
    statuses int[] DEFAULT NULL,
    created_from timestamptz DEFAULT NULL,
    created_to timestamptz DEFAULT NULL,
    page_size int DEFAULT 10,
    continuation text DEFAULT NULL)
RETURNS TABLE (items jsonb, continuation text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, sessions, pg_temp
BEGIN ATOMIC
    SELECT p.page, p.next_token FROM sessions.invoice_list_page($1, $2, $3, $4, $5, $6) p;
END;
COMMENT ON FUNCTION sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text) IS
  'Invoice-style sessions of a type, newest first, one page per call; continuation is an HMAC-signed keyset token (NULL on the last page)';

/*
 * terminate_session
 *		Closes an open or processing session (170): true when this call
 *		closed it, false when it was already closed, final or expired.
 */
CREATE FUNCTION sessions.terminate_session(reference text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    r := sessions.invoice_row(reference);
    IF r.ended_at IS NOT NULL THEN
        RETURN false;
    END IF;
    UPDATE sessions.store s
       SET status = 'CLOSED', ended_at = greatest(pg_catalog.now(), s.started_at), last_updated = pg_catalog.now(),
           doc = s.doc || pg_catalog.jsonb_build_object('status_code', 170, 'description', sessions.invoice_status_description(170))
     WHERE s.session_key = r.session_key AND s.namespace = r.namespace;
    RETURN true;
END
$$;
COMMENT ON FUNCTION sessions.terminate_session(text) IS
  'Closes an invoice-style session (170); true when closed now, false when already closed, final or expired';

/*
 * session_state
 *		A state document another process can pass to resume_session():
 *		format_version 2, reference, type, session_key, date_created and
 *		valid_until (UTC), signature (hex HMAC-SHA256 over the other fields).
 *		Read under the caller's row-level security; never carries secrets or
 *		metadata (src/lifecycle_sign.c).
 */
-- VOLATILE, not STABLE: a fresh snapshot per call, so a session opened
-- earlier in the same statement is found (docs/lifecycle.md, "One statement").
CREATE FUNCTION sessions.session_state(reference text)
RETURNS jsonb
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_session_state';
COMMENT ON FUNCTION sessions.session_state(text) IS
  'Signed, versioned (format_version 2) state document of an invoice-style session, for resume_session() in another process';

/*
 * resume_session
 *		Checks a state document and returns the live status. Refuses
 *		malformed, altered or foreign documents (22023), a format_version
 *		other than 2 (0A000), sessions the caller cannot see (P0002) and
 *		sessions that are closed, final or expired (55000).
 */
-- VOLATILE, not STABLE: a fresh snapshot per call, so a session opened
-- earlier in the same statement is found (docs/lifecycle.md, "One statement").
CREATE FUNCTION sessions.resume_session(state jsonb)
RETURNS jsonb
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sa_resume_session';
COMMENT ON FUNCTION sessions.resume_session(jsonb) IS
  'Validates a state document from session_state() and returns the live status; refuses forged, foreign, unknown, closed or expired sessions';

-- Secrets a caller keeps with a session (e.g. an encryption key). RLS lets
-- only the role that stored a secret read or change it; the reader role has
-- no access at all. Nothing in this extension prints or returns a secret
-- except session_secret() to its owner.
CREATE TABLE sessions.invoice_secret (
    session_key  uuid NOT NULL,
    namespace    text NOT NULL,
    owner_role   name NOT NULL DEFAULT current_user,
    secret       bytea NOT NULL,
    CONSTRAINT invoice_secret_pkey PRIMARY KEY (session_key, namespace),
    CONSTRAINT invoice_secret_store_fkey FOREIGN KEY (session_key, namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE
);
COMMENT ON TABLE sessions.invoice_secret IS
  'Caller secrets of invoice-style sessions; each row readable only by the role that stored it';
SELECT pg_catalog.pg_extension_config_dump('sessions.invoice_secret', '');
ALTER TABLE sessions.invoice_secret ENABLE ROW LEVEL SECURITY;
-- The row's owner, and only while its namespace is visible: a writer cannot
-- store a secret for a session of a type it is not mapped to. The check
-- runs before the foreign key's, so a made-up key in such a namespace gets
-- the same 42501 as a real one and tells nothing about which keys exist.
CREATE POLICY invoice_secret_owner ON sessions.invoice_secret
    USING (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND sessions.namespace_visible(namespace))
    WITH CHECK (owner_role OPERATOR(pg_catalog.=) CURRENT_USER
           AND sessions.namespace_visible(namespace));
REVOKE ALL ON sessions.invoice_secret FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions.invoice_secret TO session_analytics_writer;

/*
 * set_session_secret / session_secret
 *		Store (replace) and read the caller's secret of a session. Errors
 *		name the reference, never the secret.
 */
CREATE FUNCTION sessions.set_session_secret(reference text, secret bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    -- A value, not CURRENT_USER in the ON CONFLICT clause: Citus allows no
    -- non-IMMUTABLE function there.
    me pg_catalog.name := CURRENT_USER;
BEGIN
    IF secret IS NULL OR pg_catalog.length(secret) = 0 THEN
        RAISE EXCEPTION 'secret must not be empty' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    IF r.ended_at IS NOT NULL THEN
        RAISE EXCEPTION 'session "%" has ended', reference USING ERRCODE = '55000';
    END IF;
    BEGIN
        INSERT INTO sessions.invoice_secret AS t (session_key, namespace, secret)
        VALUES (r.session_key, r.namespace, secret)
        ON CONFLICT (session_key, namespace) DO UPDATE SET secret = excluded.secret
         WHERE t.owner_role = me;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '42501';
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'session "%" has a secret stored by another role', reference USING ERRCODE = '42501';
    END;
END
$$;
COMMENT ON FUNCTION sessions.set_session_secret(text, bytea) IS
  'Stores the caller''s secret for an open session, readable only by the same role (42501 if another role stored one)';

-- VOLATILE, not STABLE: a fresh snapshot per call, so a session opened
-- earlier in the same statement is found (docs/lifecycle.md, "One statement").
CREATE FUNCTION sessions.session_secret(reference text)
RETURNS bytea
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    secrets bytea[];
BEGIN
    SELECT pg_catalog.array_agg(t.secret) INTO secrets
      FROM sessions.invoice_secret t
      JOIN sessions.store s ON s.session_key = t.session_key AND s.namespace = t.namespace
     WHERE s.kind = 'invoice' AND s.external_id = session_secret.reference;
    IF pg_catalog.cardinality(secrets) > 1 THEN
        RAISE EXCEPTION 'reference "%" names sessions of more than one type', (CASE WHEN pg_catalog.length(reference) > 64 THEN pg_catalog.left(reference, 64) || '...' ELSE reference END)
            USING ERRCODE = '21000',
                  HINT = 'References are unique within a type (online, batch); act as a role mapped to one of the types.';
    END IF;
    RETURN secrets[1];
END
$$;
COMMENT ON FUNCTION sessions.session_secret(text) IS
  'The secret the current role stored for a session (NULL when none or stored by another role)';

-- Leases: one holder works a session at a time.
CREATE TABLE sessions.session_lease (
    session_key  uuid        NOT NULL,
    namespace    text        NOT NULL,
    holder       text        NOT NULL CHECK (holder <> ''),
    claimed_at   timestamptz NOT NULL,
    lease_until  timestamptz NOT NULL,
    CONSTRAINT session_lease_pkey PRIMARY KEY (session_key, namespace),
    CONSTRAINT session_lease_store_fkey FOREIGN KEY (session_key, namespace)
        REFERENCES sessions.store (session_key, namespace) ON DELETE CASCADE
);
COMMENT ON TABLE sessions.session_lease IS 'Current lease holder of an invoice-style session';
ALTER TABLE sessions.session_lease ENABLE ROW LEVEL SECURITY;
CREATE POLICY session_lease_by_namespace ON sessions.session_lease
    USING (sessions.namespace_visible(namespace))
    WITH CHECK (sessions.namespace_visible(namespace));
REVOKE ALL ON sessions.session_lease FROM PUBLIC;
GRANT SELECT ON sessions.session_lease TO session_analytics_reader;
GRANT INSERT, UPDATE, DELETE ON sessions.session_lease TO session_analytics_writer;

/*
 * claim_session
 *		Takes (or renews) the lease of a session for holder: true when the
 *		caller holds it afterwards, false when another holder's lease is still
 *		running. The store row is locked first, so concurrent claims queue and
 *		exactly one wins; a lapsed lease is taken over.
 */
CREATE FUNCTION sessions.claim_session(reference text, holder text, lease interval)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
    t timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF coalesce(holder, '') = '' THEN
        RAISE EXCEPTION 'holder must not be empty' USING ERRCODE = '22023';
    END IF;
    IF lease IS NULL OR lease <= interval '0' OR NOT pg_catalog.isfinite(t + lease) THEN
        RAISE EXCEPTION 'lease must be a positive interval' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    IF (r.doc ->> 'status_code')::int NOT IN (100, 150, 170) THEN
        RAISE EXCEPTION 'session "%" is % and cannot be claimed', reference, r.status USING ERRCODE = '55000';
    END IF;
    t := pg_catalog.clock_timestamp();
    INSERT INTO sessions.session_lease AS l (session_key, namespace, holder, claimed_at, lease_until)
    VALUES (r.session_key, r.namespace, holder, t, t + lease)
    ON CONFLICT (session_key, namespace) DO UPDATE
       SET holder = excluded.holder,
           claimed_at = CASE WHEN l.holder = excluded.holder THEN l.claimed_at ELSE excluded.claimed_at END,
           lease_until = excluded.lease_until
     WHERE l.holder = excluded.holder OR l.lease_until <= t;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sessions.claim_session(text, text, interval) IS
  'Claims or renews the lease of an invoice-style session for holder; false while another holder''s lease runs';

/*
 * release_session
 *		Gives up holder's lease: true when holder held it, false otherwise.
 */
CREATE FUNCTION sessions.release_session(reference text, holder text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, sessions, pg_temp
AS $$
DECLARE
    r sessions.store;
BEGIN
    IF coalesce(holder, '') = '' THEN
        RAISE EXCEPTION 'holder must not be empty' USING ERRCODE = '22023';
    END IF;
    r := sessions.invoice_row(reference);
    DELETE FROM sessions.session_lease l
     WHERE l.session_key = r.session_key AND l.namespace = r.namespace AND l.holder = release_session.holder;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sessions.release_session(text, text) IS
  'Releases holder''s lease of an invoice-style session; false when holder did not hold it';

-- Privileges: no function is executable by PUBLIC; readers read, writers
-- change. invoice_row is the helper of the writer functions above, which run
-- as their caller (row-level security applies), so writers need EXECUTE on
-- it; called directly it locks and writes only rows the caller could change
-- with its own table privileges. invoice_status_name/description document
-- the status codes and are readers' to call.
REVOKE ALL ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.invoice_status_name(int), sessions.invoice_status_description(int)
  TO session_analytics_reader;
REVOKE ALL ON FUNCTION sessions.invoice_row(text),
    sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text),
    sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text),
    sessions.invoice_reference(text), sessions.open_session(text, interval, text, jsonb),
    sessions.set_session_status(text, int, text), sessions.count_session_item(text, boolean),
    sessions.session_status(text), sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text),
    sessions.terminate_session(text), sessions.session_state(text), sessions.resume_session(jsonb),
    sessions.set_session_secret(text, bytea), sessions.session_secret(text),
    sessions.claim_session(text, text, interval), sessions.release_session(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sessions.session_status(text),
    sessions.invoice_list_page(text, int[], timestamptz, timestamptz, int, text),
    sessions.continuation_token(text, text, uuid), sessions.continuation_cursor(text, text),
    sessions.list_sessions(text, int[], timestamptz, timestamptz, int, text), sessions.session_state(text),
    sessions.resume_session(jsonb)
  TO session_analytics_reader;
GRANT EXECUTE ON FUNCTION sessions.invoice_row(text), sessions.invoice_reference(text),
    sessions.open_session(text, interval, text, jsonb), sessions.set_session_status(text, int, text),
    sessions.count_session_item(text, boolean), sessions.terminate_session(text),
    sessions.set_session_secret(text, bytea), sessions.session_secret(text),
    sessions.claim_session(text, text, interval), sessions.release_session(text, text)
  TO session_analytics_writer;
