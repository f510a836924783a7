/*
 * events/store_events.c
 *		The AFTER ROW trigger on sessions.store (sessions.store_events()):
 *		which row changes become which events. Owns
 *		session_analytics.notify_updates.
 *
 * The rules, from the store's columns only:
 * - START: a row inserted; an OCPI row whose status moves into ACTIVE.
 * - STOP: telemetry and invoice rows whose ended_at goes from NULL to set
 *   (an insert with ended_at set both starts and stops); OCPI rows whose
 *   status moves into COMPLETED or INVALID.
 * - UPDATE: any other change of the row, when notify_updates is on.
 * The event's time is started_at for START, ended_at for STOP, else (or
 * when that is NULL) last_updated.
 *
 * Each event is written by the log writer (events/event_log.h, which takes its seq
 * under the lock-before-seq rule) and then handed to the transaction's
 * delivery (events/event_xact.h). The trigger runs on the extension's own store
 * only (checked by OID) or, on a Citus node, on a shard of it (named
 * store_<shardid> in the extension's schema and recorded as a shard of the
 * store in pg_dist_shard; asked once per relation and backend), and reads
 * the columns by the attribute numbers found once per cached relation. On
 * a worker, a shard's events stay in the worker's own log for the
 * coordinator's relay (events/event_relay.c): no per-event notification,
 * one wake-up of the relay at commit (sa_event_xact_relay).
 *
 * Layering: the top of the writer side; over events/event_log.h and events/event_xact.h.
 * Nothing calls it but the trigger; it knows nothing of payloads, channels,
 * the hand-off or the notifier.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "session_analytics.h"
#include "events/event_log.h"
#include "events/event_xact.h"

PG_FUNCTION_INFO_V1(sa_store_events);

/* GUC */
static bool notify_updates = false;

/*
 * The extension's store, resolved by OID from its schema (never from the
 * firing table's schema or the search_path) at the first event of a
 * backend, with that schema. The relations the trigger accepts -- the store
 * itself and, on a Citus node, the shards of the store it holds -- are kept
 * in a small cache keyed by OID with the attribute numbers of the columns
 * the trigger reads (a shard is created from the store's definition, so its
 * numbers may differ from the store's once a column was dropped), until a
 * relcache invalidation touches that relation (or the whole cache, which
 * also forgets the store).
 */
static Oid	ext_store_relid = InvalidOid;
static Oid	ext_store_nsp = InvalidOid;
static HTAB *store_targets = NULL;

/* Columns of sessions.store the trigger reads, by attribute number. */
enum
{
	SC_KIND, SC_NAMESPACE, SC_EXTERNAL_ID, SC_STATUS, SC_SESSION_KEY,
	SC_STARTED_AT, SC_ENDED_AT, SC_LAST_UPDATED, SC_N
};
static const char *const store_col_names[] = {
	[SC_KIND] = "kind", [SC_NAMESPACE] = "namespace", [SC_EXTERNAL_ID] = "external_id",
	[SC_STATUS] = "status", [SC_SESSION_KEY] = "session_key", [SC_STARTED_AT] = "started_at",
	[SC_ENDED_AT] = "ended_at", [SC_LAST_UPDATED] = "last_updated"
};
static const Oid store_col_types[] = {
	[SC_KIND] = TEXTOID, [SC_NAMESPACE] = TEXTOID, [SC_EXTERNAL_ID] = TEXTOID,
	[SC_STATUS] = TEXTOID, [SC_SESSION_KEY] = UUIDOID, [SC_STARTED_AT] = TIMESTAMPTZOID,
	[SC_ENDED_AT] = TIMESTAMPTZOID, [SC_LAST_UPDATED] = TIMESTAMPTZOID
};

StaticAssertDecl(lengthof(store_col_names) == SC_N && lengthof(store_col_types) == SC_N,
				 "store_col_names and store_col_types must have one entry per SC_ column");

/*
 * One relation the trigger fires on: the store, a shard of it on a Citus
 * worker (its events are relayed to the coordinator: RELAYED), or a shard
 * the coordinator holds itself (its events are the cluster's already).
 */
typedef enum TargetKind
{
	TARGET_STORE,
	TARGET_SHARD_RELAYED,
	TARGET_SHARD_LOCAL
} TargetKind;

typedef struct StoreTarget
{
	Oid			relid;			/* hash key */
	TargetKind	kind;
	bool		cols_ok;		/* att[] checked against the descriptor */
	AttrNumber	att[SC_N];
} StoreTarget;

static void store_relcache_callback(Datum arg, Oid relid);

/*
 * sa_store_events_init
 *		Registers notify_updates and the invalidation of the cached store;
 *		called from _PG_init.
 */
void
sa_store_events_init(void)
{
	DefineCustomBoolVariable(SA_GUC_PREFIX ".notify_updates",
							 "Also log and notify UPDATE events (store changes that neither start nor stop a session).",
							 NULL, &notify_updates, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(store_relcache_callback, (Datum) 0);
}

/*
 * Forgets a cached relation when it changes; the store (and every shard)
 * when every relation does or the store itself does.
 */
static void
store_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS it;
	StoreTarget *t;

	if (relid != InvalidOid && relid != ext_store_relid)
	{
		if (store_targets)
			(void) hash_search(store_targets, &relid, HASH_REMOVE, NULL);
		return;
	}
	ext_store_relid = InvalidOid;
	if (store_targets == NULL)
		return;
	hash_seq_init(&it, store_targets);
	while ((t = hash_seq_search(&it)) != NULL)
		(void) hash_search(store_targets, &t->relid, HASH_REMOVE, NULL);
}

/*
 * resolve_store
 *		Fills the cache with the store of the extension's schema, and the log
 *		writer's with the log and sequence at the same moment, so a missing
 *		one is reported at the first trigger call as before.
 */
static void
resolve_store(void)
{
	Oid			extoid;
	Oid			nsp = sa_extension_schema(&extoid, false);
	Oid			store = sa_extension_relation(extoid, nsp, "store", RELKIND_RELATION);

	sa_event_log_resolve();
	if (store_targets == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(StoreTarget);
		ctl.hcxt = CacheMemoryContext;
		store_targets = hash_create("session_analytics store trigger targets", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ext_store_relid = store;
	ext_store_nsp = nsp;
}

/*
 * shard_of_store
 *		Is rel a shard of the extension's store on this Citus node? Its name
 *		is store_<shardid> in the extension's schema, and Citus's metadata
 *		on this node (pg_dist_shard, synced to every node) records that
 *		shard as one of sessions.store. *relayed: this node is not the
 *		coordinator (its group is not 0), so the shard's events reach the
 *		cluster's log through the relay. Asked once per relation and backend
 *		(the answer is cached); without Citus the answer is no.
 */
static bool
shard_of_store(Relation rel, bool *relayed)
{
	const char *name = RelationGetRelationName(rel);
	int64		shardid;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		found = false;
	size_t		digits;

	if (RelationGetNamespace(rel) != ext_store_nsp || strncmp(name, "store_", 6) != 0)
		return false;
	digits = strspn(name + 6, "0123456789");
	if (digits == 0 || digits > 18 || name[6 + digits] != '\0')
		return false;
	shardid = strtoi64(name + 6, NULL, 10);
	if (!OidIsValid(get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE)) ||
		!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
		return false;
	args[0] = Int64GetDatum(shardid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT s.logicalrelid::pg_catalog.oid, (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) "
							  "FROM pg_catalog.pg_dist_shard s WHERE s.shardid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_shard");
	if (SPI_processed == 1)
	{
		bool		n1,
					n2;
		Oid			logical = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1));
		int32		group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2));

		found = !n1 && logical == ext_store_relid;
		*relayed = n2 || group != 0;
	}
	SPI_finish();
	return found;
}

/*
 * store_target
 *		The cache entry of the relation the trigger fires on, made at its
 *		first event; refuses (WRONG_OBJECT_TYPE) any relation that is neither
 *		the store nor one of its shards.
 */
static StoreTarget *
store_target(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	Oid			relid = RelationGetRelid(rel);
	StoreTarget *t;
	TargetKind	kind = TARGET_STORE;
	bool		found;

	if (!OidIsValid(ext_store_relid))
		resolve_store();
	t = hash_search(store_targets, &relid, HASH_FIND, NULL);
	if (t)
		return t;
	if (relid != ext_store_relid)
	{
		bool		relayed = true;

		if (!shard_of_store(rel, &relayed))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("sessions.store_events() may only be a trigger on sessions.store or its Citus shards, not on \"%s\"",
							RelationGetRelationName(rel)),
					 errhint("Drop trigger \"%s\"; the extension installs the only trigger that uses this function.",
							 trigdata->tg_trigger->tgname)));
		kind = relayed ? TARGET_SHARD_RELAYED : TARGET_SHARD_LOCAL;
	}
	t = hash_search(store_targets, &relid, HASH_ENTER, &found);
	t->kind = kind;
	t->cols_ok = false;
	return t;
}

/*
 * check_store_desc
 *		Once per cached relation: the attribute numbers and types of the
 *		columns the trigger reads.
 */
static void
check_store_desc(StoreTarget *t, TupleDesc desc)
{
	for (int c = 0; c < SC_N; c++)
	{
		int			attnum = SPI_fnumber(desc, store_col_names[c]);

		if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->atttypid != store_col_types[c])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of sessions.store is missing or of another type", store_col_names[c]),
					 errhint("Reinstall the extension instead of altering its tables.")));
		t->att[c] = attnum;
	}
	t->cols_ok = true;
}

/* Columns of sessions.store the trigger reads. */
typedef struct StoreRow
{
	char	   *kind;
	char	   *namespace;
	char	   *external_id;
	char	   *status;
	pg_uuid_t	session_key;
	bool		started_null,
				ended_null,
				updated_null;
	TimestampTz started_at,
				ended_at,
				last_updated;
} StoreRow;

/*
 * read_row
 *		The typed columns events are derived from, by the attribute numbers
 *		check_store_desc found.
 */
static void
read_row(const AttrNumber *store_att, HeapTuple tuple, TupleDesc desc, StoreRow *row)
{
	Datum		d;
	bool		isnull;

	d = heap_getattr(tuple, store_att[SC_KIND], desc, &isnull);
	row->kind = isnull ? "" : TextDatumGetCString(d);
	d = heap_getattr(tuple, store_att[SC_NAMESPACE], desc, &isnull);
	row->namespace = isnull ? "" : TextDatumGetCString(d);
	d = heap_getattr(tuple, store_att[SC_EXTERNAL_ID], desc, &isnull);
	row->external_id = isnull ? NULL : TextDatumGetCString(d);
	d = heap_getattr(tuple, store_att[SC_STATUS], desc, &isnull);
	row->status = isnull ? "" : TextDatumGetCString(d);
	d = heap_getattr(tuple, store_att[SC_SESSION_KEY], desc, &isnull);
	if (isnull)
		memset(&row->session_key, 0, sizeof(pg_uuid_t));
	else
		row->session_key = *DatumGetUUIDP(d);
	d = heap_getattr(tuple, store_att[SC_STARTED_AT], desc, &row->started_null);
	row->started_at = row->started_null ? 0 : DatumGetTimestampTz(d);
	d = heap_getattr(tuple, store_att[SC_ENDED_AT], desc, &row->ended_null);
	row->ended_at = row->ended_null ? 0 : DatumGetTimestampTz(d);
	d = heap_getattr(tuple, store_att[SC_LAST_UPDATED], desc, &row->updated_null);
	row->last_updated = row->updated_null ? 0 : DatumGetTimestampTz(d);
}

/* OCPI statuses that end a session. */
static bool
ocpi_final(const char *status)
{
	return strcmp(status, "COMPLETED") == 0 || strcmp(status, "INVALID") == 0;
}

/*
 * row_changed
 *		True when any column of the two row versions differs.
 */
static bool
row_changed(HeapTuple a, HeapTuple b, TupleDesc desc)
{
	for (int i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		bool		na,
					nb;
		Datum		da,
					db;

		if (att->attisdropped)
			continue;
		da = heap_getattr(a, i, desc, &na);
		db = heap_getattr(b, i, desc, &nb);
		if (na != nb || (!na && !datum_image_eq(da, db, att->attbyval, att->attlen)))
			return true;
	}
	return false;
}

/*
 * log_event
 *		One event of the row: its fields and time, written by the log writer
 *		(which fills in the seq), then handed to the transaction's delivery.
 */
static void
log_event(EventType event, const StoreRow *row, bool relayed)
{
	EventFields ev;

	ev.event = event;
	ev.kind = row->kind;
	ev.namespace = row->namespace;
	ev.session_key = row->session_key;
	ev.external_id = row->external_id;
	ev.status = row->status;
	switch (event)
	{
		case EV_START:
			ev.has_time = !row->started_null || !row->updated_null;
			ev.time = !row->started_null ? row->started_at : row->last_updated;
			break;
		case EV_STOP:
			ev.has_time = !row->ended_null || !row->updated_null;
			ev.time = !row->ended_null ? row->ended_at : row->last_updated;
			break;
		default:
			ev.has_time = !row->updated_null;
			ev.time = row->last_updated;
			break;
	}
	ev.logged_at = 0;
	sa_event_log_append(&ev);
	if (relayed)
		sa_event_xact_relay();
	else
		sa_event_xact_logged(&ev);
}

/*
 * sa_store_events
 *		AFTER INSERT OR UPDATE ... FOR EACH ROW trigger on sessions.store
 *		and its Citus shards, and on no other table: it refuses to run
 *		anywhere else (store_target: the store by OID, a shard by Citus's
 *		metadata), so a trigger attached to a look-alike table cannot make
 *		it write or read foreign relations.
 */
Datum
sa_store_events(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	StoreRow	new;
	StoreTarget *target;
	bool		relayed;
	bool		started = false,
				stopped = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() must be called as a trigger")));
	target = store_target(trigdata);
	relayed = target->kind == TARGET_SHARD_RELAYED;
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() must be an AFTER ... FOR EACH ROW trigger")));
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() handles INSERT and UPDATE only")));

	desc = RelationGetDescr(trigdata->tg_relation);
	if (!target->cols_ok)
		check_store_desc(target, desc);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		read_row(target->att, trigdata->tg_trigtuple, desc, &new);
		started = true;
		/* A session stored already finished also stops (NULL -> set). */
		if (strcmp(new.kind, "ocpi") == 0)
			stopped = ocpi_final(new.status);
		else if (strcmp(new.kind, "telemetry") == 0 || strcmp(new.kind, "invoice") == 0)
			stopped = !new.ended_null;
	}
	else
	{
		StoreRow	old;

		read_row(target->att, trigdata->tg_trigtuple, desc, &old);
		read_row(target->att, trigdata->tg_newtuple, desc, &new);
		if (strcmp(new.kind, "ocpi") == 0)
		{
			started = strcmp(new.status, "ACTIVE") == 0 && strcmp(old.status, "ACTIVE") != 0;
			stopped = ocpi_final(new.status) && !ocpi_final(old.status);
		}
		else if (strcmp(new.kind, "telemetry") == 0 || strcmp(new.kind, "invoice") == 0)
			stopped = old.ended_null && !new.ended_null;
		if (!started && !stopped && notify_updates &&
			row_changed(trigdata->tg_trigtuple, trigdata->tg_newtuple, desc))
			log_event(EV_UPDATE, &new, relayed);
	}
	if (started)
		log_event(EV_START, &new, relayed);
	if (stopped)
		log_event(EV_STOP, &new, relayed);

	return PointerGetDatum(NULL);
}
