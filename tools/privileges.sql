-- The extension's objects and who may use them, one line each:
--   KIND NAME [SECURITY DEFINER]: grantee:PRIVILEGE ...   ('-' = nobody)
-- PUBLIC is spelled PUBLIC; the owner's own privileges are left out (the
-- owner is whoever installed the extension); '*' marks WITH GRANT OPTION.
-- An object without an ACL shows its built-in default (functions: PUBLIC
-- EXECUTE). Used by tools/privileges.sh and test/cli/privileges.t.
SET search_path = pg_catalog;
WITH ext AS (
    SELECT e.oid, e.extnamespace FROM pg_extension e WHERE e.extname = 'session_analytics'
), member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), objs AS (
    SELECT 'schema' AS kind, quote_ident(n.nspname) AS name, n.nspacl AS acl, n.nspowner AS owner,
           'n'::"char" AS deftype, false AS secdef
      FROM pg_namespace n, ext WHERE n.oid = ext.extnamespace
    UNION ALL
    SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END,
           p.oid::regprocedure::text, p.proacl, p.proowner, 'f', p.prosecdef
      FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                          WHEN 'm' THEN 'materialized-view' WHEN 'S' THEN 'sequence' ELSE 'relation' END,
           c.oid::regclass::text, c.relacl, c.relowner, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", false
      FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT 'column', c.oid::regclass::text || '.' || quote_ident(a.attname), a.attacl, c.relowner, 'c', false
      FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
    UNION ALL
    SELECT 'type', t.oid::regtype::text, t.typacl, t.typowner, 'T', false
      FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
)
SELECT o.kind || ' ' || o.name || CASE WHEN o.secdef THEN ' SECURITY DEFINER' ELSE '' END || ': '
       || coalesce((SELECT string_agg(g.who || ':' || g.privilege_type || CASE WHEN g.is_grantable THEN '*' ELSE '' END,
                                      ' ' ORDER BY g.who, g.privilege_type)
                      FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END AS who,
                                   a.privilege_type, a.is_grantable
                              FROM aclexplode(coalesce(o.acl, acldefault(o.deftype, o.owner))) a
                             WHERE a.grantee <> o.owner) g), '-')
  FROM objs o
 ORDER BY o.kind, o.name;
