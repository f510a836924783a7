-- The catalog of the installed session_analytics extension as sorted text,
-- one line per fact, free of OIDs, so that two databases can be compared
-- with diff (test/cli/upgrade.t: a 0.1.0 install updated to the current
-- version against a fresh install of the current version). Lines:
--   extension         version, schema, relocatable, config_dump tables
--                     (extconfig) with their conditions (extcondition)
--   member            every object of the extension (pg_depend 'e')
--   function          kind, leakproof, volatility, parallel safety,
--                     strictness, SECURITY DEFINER, SET options (aggregates
--                     too), then pg_get_functiondef: signature, language,
--                     cost, rows, the body (prosrc / BEGIN ATOMIC deparsed)
--   aggregate         every pg_aggregate field, functions by signature
--   type              pg_type fields, functions by name; enum labels;
--                     domain constraints
--   relation          kind, persistence, row-level security, options
--   column            position among the live columns, name, type,
--                     collation, not null, default, identity, generated
--   index, constraint pg_get_indexdef / pg_get_constraintdef
--   trigger           pg_get_triggerdef (user triggers) and enabled state
--   policy            pg_policies
--   view              pg_get_viewdef
--   sequence          pg_sequence fields and the owning column
--   event trigger     event, function, tags, enabled state
--   operator, cast    their functions
--   acl               every privilege of every object and column, the
--                     built-in default expanded when the ACL is NULL
--   comment           every comment of every object and sub-object
-- This server build stamps attoptions with a per-table pg_attver=N (an
-- address, different in every database): left out of the comparison.
-- A multi-line entry (function, view) prints each of its lines prefixed with
-- its first line, so that a diff names the object of every changed line.
-- Column positions are compared as the rank among live columns, so a column
-- dropped by an upgrade (attisdropped, keeps its attnum) does not shift the
-- others; a column added by ALTER TABLE ADD COLUMN lands last, so an upgrade
-- that adds a column anywhere else must rebuild the table (the upgrade
-- script does, docs/upgrading.md).
SET search_path = pg_catalog;
WITH ext AS (
    SELECT e.* FROM pg_extension e WHERE e.extname = 'session_analytics'
), member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
    SELECT c.* FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
), procs AS (
    SELECT p.* FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
), types AS (
    SELECT t.* FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
), cols AS (
    SELECT c.oid AS relid, c.oid::regclass::text AS rel, c.relkind, a.*,
           rank() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS pos
      FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
), acls AS (
    SELECT 'schema ' || quote_ident(n.nspname) AS obj, n.nspacl AS acl, n.nspowner AS owner, 'n'::"char" AS deftype
      FROM pg_namespace n, ext WHERE n.oid = ext.extnamespace
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text, p.proacl, p.proowner, 'f' FROM procs p
    UNION ALL
    SELECT 'relation ' || c.oid::regclass::text, c.relacl, c.relowner,
           CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char" FROM rels c
    UNION ALL
    SELECT 'column ' || c.rel || '.' || quote_ident(c.attname), c.attacl, r.relowner, 'c'
      FROM cols c JOIN pg_class r ON r.oid = c.relid WHERE c.attacl IS NOT NULL
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text, t.typacl, t.typowner, 'T' FROM types t
)
SELECT CASE WHEN x.n = 1 THEN x.l ELSE split_part(dump.line, E'\n', 1) || ' | ' || x.l END
  FROM (
    SELECT 'extension ' || ext.extname || ' version=' || ext.extversion || ' schema=' || n.nspname
           || ' relocatable=' || ext.extrelocatable AS line
      FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace
    UNION ALL
    SELECT 'extension config_dump ' || c.oid::regclass::text || ' condition=' || quote_literal(cfg.cond)
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS cfg(relid, cond) JOIN pg_class c ON c.oid = cfg.relid
    UNION ALL
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM member m
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text || ' kind=' || p.prokind::text || ' leakproof=' || p.proleakproof
           || ' volatile=' || p.provolatile::text || ' parallel=' || p.proparallel::text || ' strict=' || p.proisstrict
           || ' secdef=' || p.prosecdef || ' config=' || coalesce(array_to_string(p.proconfig, ','), '-')
           || ' support=' || p.prosupport::regproc::text || E'\n'
           || CASE WHEN p.prokind::text = 'a' THEN '(aggregate)' ELSE pg_get_functiondef(p.oid) END
      FROM procs p
    UNION ALL
    SELECT 'aggregate ' || a.aggfnoid::regprocedure::text || ' kind=' || a.aggkind::text
           || ' direct_args=' || a.aggnumdirectargs || ' trans=' || a.aggtransfn::regprocedure::text
           || ' final=' || a.aggfinalfn::regproc::text || ' combine=' || a.aggcombinefn::regproc::text
           || ' serial=' || a.aggserialfn::regproc::text || ' deserial=' || a.aggdeserialfn::regproc::text
           || ' mtrans=' || a.aggmtransfn::regproc::text || ' minvtrans=' || a.aggminvtransfn::regproc::text
           || ' mfinal=' || a.aggmfinalfn::regproc::text || ' finalextra=' || a.aggfinalextra
           || ' finalmodify=' || a.aggfinalmodify::text || ' sortop=' || a.aggsortop::regoperator::text
           || ' stype=' || format_type(a.aggtranstype, NULL) || ' sspace=' || a.aggtransspace
           || ' mstype=' || format_type(a.aggmtranstype, NULL) || ' initcond=' || coalesce(quote_literal(a.agginitval), 'NULL')
           || ' minitcond=' || coalesce(quote_literal(a.aggminitval), 'NULL')
      FROM procs p JOIN pg_aggregate a ON a.aggfnoid = p.oid
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text || ' type=' || t.typtype::text || ' category=' || t.typcategory::text
           || ' len=' || t.typlen || ' byval=' || t.typbyval || ' align=' || t.typalign::text || ' storage=' || t.typstorage::text
           || ' input=' || t.typinput::regproc::text || ' output=' || t.typoutput::regproc::text
           || ' receive=' || t.typreceive::regproc::text || ' send=' || t.typsend::regproc::text
           || ' modin=' || t.typmodin::regproc::text || ' modout=' || t.typmodout::regproc::text
           || ' analyze=' || t.typanalyze::regproc::text || ' subscript=' || t.typsubscript::regproc::text
           || ' element=' || format_type(nullif(t.typelem, 0), NULL) || ' array=' || format_type(nullif(t.typarray, 0), NULL)
           || ' base=' || coalesce(format_type(nullif(t.typbasetype, 0), t.typtypmod), '-')
           || ' notnull=' || t.typnotnull || ' default=' || coalesce(t.typdefault, 'NULL')
           || ' collation=' || coalesce((SELECT co.collname FROM pg_collation co WHERE co.oid = t.typcollation), '-')
           || ' relation=' || coalesce(t.typrelid::regclass::text, '-')
      FROM types t
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text || ' label ' || e.enumsortorder || ' ' || quote_literal(e.enumlabel)
      FROM types t JOIN pg_enum e ON e.enumtypid = t.oid
    UNION ALL
    SELECT 'constraint ' || t.oid::regtype::text || ' ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid)
      FROM types t JOIN pg_constraint c ON c.contypid = t.oid
    UNION ALL
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
           || ' rls=' || c.relrowsecurity || ' force_rls=' || c.relforcerowsecurity
           || ' replident=' || c.relreplident::text || ' options=' || coalesce(array_to_string(c.reloptions, ','), '-')
           || ' partition=' || coalesce(pg_get_partkeydef(c.oid), '-')
           || ' of_type=' || coalesce(format_type(nullif(c.reloftype, 0), NULL), '-')
      FROM rels c
    UNION ALL
    SELECT 'column ' || c.rel || ' ' || c.pos || ' ' || quote_ident(c.attname) || ' ' || format_type(c.atttypid, c.atttypmod)
           || ' collation=' || coalesce((SELECT co.collname FROM pg_collation co WHERE co.oid = nullif(c.attcollation, 0)), '-')
           || ' notnull=' || c.attnotnull || ' identity=' || c.attidentity::text || ' generated=' || c.attgenerated::text
           || ' storage=' || c.attstorage::text || ' compression=' || c.attcompression::text || ' stattarget=' || c.attstattarget
           || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
           || ' options=' || coalesce(nullif(array_to_string(ARRAY(SELECT o FROM unnest(c.attoptions) o
                                                       WHERE o NOT LIKE 'pg\_attver=%'), ','), ''), '-')
      FROM cols c LEFT JOIN pg_attrdef d ON d.adrelid = c.relid AND d.adnum = c.attnum
     WHERE c.relkind <> 'S'
    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass::text || ' ' || pg_get_indexdef(i.indexrelid)
           || ' primary=' || i.indisprimary || ' replident=' || i.indisreplident || ' clustered=' || i.indisclustered
      FROM rels c JOIN pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT 'constraint ' || c.oid::regclass::text || ' ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
           || ' deferrable=' || k.condeferrable || ' deferred=' || k.condeferred || ' validated=' || k.convalidated
      FROM rels c JOIN pg_constraint k ON k.conrelid = c.oid
    UNION ALL
    SELECT 'trigger ' || c.oid::regclass::text || ' ' || pg_get_triggerdef(g.oid) || ' enabled=' || g.tgenabled::text
      FROM rels c JOIN pg_trigger g ON g.tgrelid = c.oid AND NOT g.tgisinternal
    UNION ALL
    SELECT 'policy ' || quote_ident(p.schemaname) || '.' || quote_ident(p.tablename) || ' ' || quote_ident(p.policyname)
           || ' ' || p.permissive || ' ' || p.cmd || ' roles=' || array_to_string(p.roles, ',')
           || ' using=' || coalesce(p.qual, '-') || ' check=' || coalesce(p.with_check, '-')
      FROM pg_policies p JOIN rels c ON c.relname = p.tablename AND c.relnamespace::regnamespace::text = quote_ident(p.schemaname)
    UNION ALL
    SELECT 'view ' || c.oid::regclass::text || E'\n' || pg_get_viewdef(c.oid)
      FROM rels c WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'rule ' || c.oid::regclass::text || ' ' || r.rulename || ' ' || pg_get_ruledef(r.oid)
      FROM rels c JOIN pg_rewrite r ON r.ev_class = c.oid WHERE r.rulename <> '_RETURN'
    UNION ALL
    SELECT 'sequence ' || c.oid::regclass::text || ' type=' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
           || ' increment=' || s.seqincrement || ' max=' || s.seqmax || ' min=' || s.seqmin || ' cache=' || s.seqcache
           || ' cycle=' || s.seqcycle
           || ' owned_by=' || coalesce((SELECT d.refobjid::regclass::text || '.' || a.attname
                                          FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '-')
      FROM rels c JOIN pg_sequence s ON s.seqrelid = c.oid
    UNION ALL
    SELECT 'event trigger ' || quote_ident(e.evtname) || ' on ' || e.evtevent || ' function=' || e.evtfoid::regproc::text
           || ' enabled=' || e.evtenabled::text || ' tags=' || coalesce(array_to_string(e.evttags, ','), '-')
      FROM member m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
    UNION ALL
    SELECT 'operator ' || o.oid::regoperator::text || ' function=' || o.oprcode::regproc::text
           || ' commutator=' || o.oprcom::regoperator::text || ' negator=' || o.oprnegate::regoperator::text
           || ' restrict=' || o.oprrest::regproc::text || ' join=' || o.oprjoin::regproc::text
      FROM member m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
    UNION ALL
    SELECT 'cast ' || format_type(k.castsource, NULL) || ' AS ' || format_type(k.casttarget, NULL)
           || ' function=' || coalesce(k.castfunc::regprocedure::text, '-') || ' context=' || k.castcontext::text
           || ' method=' || k.castmethod::text
      FROM member m JOIN pg_cast k ON m.classid = 'pg_cast'::regclass AND k.oid = m.objid
    UNION ALL
    SELECT 'acl ' || a.obj || ' ' || CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee)::text END
           || ' ' || x.privilege_type || CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
           || ' (by ' || CASE WHEN x.grantor = a.owner THEN 'owner' ELSE pg_get_userbyid(x.grantor)::text END || ')'
      FROM acls a, aclexplode(coalesce(a.acl, acldefault(a.deftype, a.owner))) x
     WHERE x.grantee <> a.owner
    UNION ALL
    SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
      FROM pg_description d
     WHERE (d.classoid, d.objoid) IN (SELECT m.classid, m.objid FROM member m)
        OR (d.classoid = 'pg_class'::regclass
            AND d.objoid IN (SELECT i.indexrelid FROM pg_index i JOIN rels c ON c.oid = i.indrelid))
        OR (d.classoid = 'pg_constraint'::regclass
            AND d.objoid IN (SELECT k.oid FROM pg_constraint k JOIN rels c ON c.oid = k.conrelid))
        OR (d.classoid = 'pg_trigger'::regclass
            AND d.objoid IN (SELECT g.oid FROM pg_trigger g JOIN rels c ON c.oid = g.tgrelid))
        OR (d.classoid = 'pg_policy'::regclass
            AND d.objoid IN (SELECT p.oid FROM pg_policy p JOIN rels c ON c.oid = p.polrelid))
    UNION ALL
    SELECT 'comment schema ' || quote_ident(n.nspname) || ': ' || obj_description(n.oid, 'pg_namespace')
      FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace WHERE obj_description(n.oid, 'pg_namespace') IS NOT NULL
) dump, regexp_split_to_table(dump.line, E'\n') WITH ORDINALITY AS x(l, n)
 ORDER BY split_part(dump.line, E'\n', 1) COLLATE "C", x.n;
