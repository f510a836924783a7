/*
 * session_analytics.c
 *		Module entry point: registers every concern's GUCs and hooks.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "session_analytics.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Runs once per backend that loads the library (or in the postmaster when
 *		the library is in shared_preload_libraries).
 */
void
_PG_init(void)
{
	sa_analytics_init();
	sa_worker_common_init();
	sa_expiry_init();
	sa_event_log_init();
	sa_store_events_init();
	sa_event_xact_init();
	sa_event_prune_init();
	sa_handoff_init();
	sa_notify_init();
	sa_event_relay_init();
	sa_relay_worker_init();
	sa_import_memory_init();

	/* No one else may define variables under our prefix, typo'd ones warn. */
	MarkGUCPrefixReserved(SA_GUC_PREFIX);
}

/*
 * sa_extension_schema
 *		The schema pg_extension records for session_analytics (PostgreSQL 15
 *		does not export get_extension_schema), with the extension's OID in
 *		*extoid when extoid is not NULL. Objects are found through it, never
 *		through search_path, so a caller's own schemas (pg_temp included)
 *		cannot stand in for them. When the extension is not installed:
 *		InvalidOid if missing_ok, an error otherwise.
 */
Oid
sa_extension_schema(Oid *extoid, bool missing_ok)
{
	Oid			ext = get_extension_oid(SA_EXTENSION, true);
	Oid			nsp = InvalidOid;

	if (OidIsValid(ext))
	{
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(ext));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
			nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (!OidIsValid(nsp) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension %s is not installed in this database", SA_EXTENSION),
				 errhint("Run CREATE EXTENSION %s.", SA_EXTENSION)));
	if (extoid)
		*extoid = ext;
	return nsp;
}

/*
 * sa_extension_relation
 *		The extension's relation NAME in its schema nsp (from
 *		sa_extension_schema), required to be of kind relkind and a member of
 *		the extension extoid; an error naming it otherwise.
 */
Oid
sa_extension_relation(Oid extoid, Oid nsp, const char *name, char relkind)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid) || get_rel_relkind(relid) != relkind ||
		getExtensionOfObject(RelationRelationId, relid) != extoid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" of extension %s is missing or not a %s",
						get_namespace_name(nsp), name, SA_EXTENSION,
						relkind == RELKIND_SEQUENCE ? "sequence" : "table"),
				 errhint("Reinstall the extension (DROP EXTENSION %s; CREATE EXTENSION %s).",
						 SA_EXTENSION, SA_EXTENSION)));
	return relid;
}
