-- Included (\ir) by the pgTAP files that check the lifecycle signatures
-- (lifecycle.sql, lifecycle_paging.sql): an independent HMAC-SHA256
-- (RFC 2104 over sha256()) of the framing that docs/lifecycle.md describes,
-- under the database's key (readable: these tests run as a superuser).
-- Defines pg_temp functions only; runs no test.
CREATE FUNCTION pg_temp.hmac(k bytea, m bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    kp bytea := k || decode(repeat('00', 64 - length(k)), 'hex');
    i bytea := kp;
    o bytea := kp;
BEGIN
    FOR n IN 0 .. 63 LOOP
        i := set_byte(i, n, get_byte(kp, n) # 54);
        o := set_byte(o, n, get_byte(kp, n) # 92);
    END LOOP;
    RETURN sha256(o || sha256(i || m));
END
$$;
CREATE FUNCTION pg_temp.sign(purpose text, parts text[]) RETURNS text LANGUAGE sql AS $$
    SELECT encode(pg_temp.hmac((SELECT hmac_key FROM sessions.lifecycle_key),
        convert_to('session_analytics lifecycle', 'UTF8') || '\x00'::bytea || convert_to(purpose, 'UTF8') || '\x00'::bytea
        || convert_to((SELECT oid::text FROM pg_database WHERE datname = current_database()), 'UTF8') || '\x00'::bytea
        || coalesce((SELECT string_agg(CASE WHEN p IS NULL THEN '\x6e'::bytea ELSE '\x73'::bytea || convert_to(p, 'UTF8') END
                                       || '\x00'::bytea, ''::bytea ORDER BY n)
                       FROM unnest(parts) WITH ORDINALITY u(p, n)), ''::bytea)), 'hex')
$$;
