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
 * only (checked by OID) and reads its columns by the attribute numbers
 * found once per cached descriptor.
 *
 * Layering: the top of the writer side; over events/event_log.h and events/event_xact.h.
 * Nothing calls it but the trigger; it knows nothing of payloads, channels,
 * the hand-off or the notifier.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
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
 * backend, and kept until a relcache invalidation touches it or the whole
 * cache. Its column numbers are checked once per cached descriptor.
 */
static Oid	ext_store_relid = InvalidOid;
static bool store_cols_ok = false;

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
static AttrNumber store_att[SC_N];

StaticAssertDecl(lengthof(store_col_names) == SC_N && lengthof(store_col_types) == SC_N,
				 "store_col_names and store_col_types must have one entry per SC_ column");

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

/* Forgets the cached store when it (or every relation) changes. */
static void
store_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ext_store_relid)
	{
		ext_store_relid = InvalidOid;
		store_cols_ok = false;
	}
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
	ext_store_relid = store;
	store_cols_ok = false;
}

/*
 * check_store_desc
 *		Once per cached store descriptor: the attribute numbers and types of
 *		the columns the trigger reads.
 */
static void
check_store_desc(TupleDesc desc)
{
	for (int c = 0; c < SC_N; c++)
	{
		int			attnum = SPI_fnumber(desc, store_col_names[c]);

		if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->atttypid != store_col_types[c])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of sessions.store is missing or of another type", store_col_names[c]),
					 errhint("Reinstall the extension instead of altering its tables.")));
		store_att[c] = attnum;
	}
	store_cols_ok = true;
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
read_row(HeapTuple tuple, TupleDesc desc, StoreRow *row)
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
log_event(EventType event, const StoreRow *row)
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
	sa_event_log_append(&ev);
	sa_event_xact_logged(&ev);
}

/*
 * sa_store_events
 *		AFTER INSERT OR UPDATE ... FOR EACH ROW trigger on sessions.store,
 *		and on no other table: it refuses to run anywhere else (checked by
 *		OID against the extension's own store), so a trigger attached to a
 *		look-alike table cannot make it write or read foreign relations.
 */
Datum
sa_store_events(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	StoreRow	new;
	bool		started = false,
				stopped = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() must be called as a trigger")));
	if (!OidIsValid(ext_store_relid))
		resolve_store();
	if (RelationGetRelid(trigdata->tg_relation) != ext_store_relid)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("sessions.store_events() may only be a trigger on sessions.store, not on \"%s\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Drop trigger \"%s\"; the extension installs the only trigger that uses this function.",
						 trigdata->tg_trigger->tgname)));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() must be an AFTER ... FOR EACH ROW trigger")));
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) && !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sessions.store_events() handles INSERT and UPDATE only")));

	desc = RelationGetDescr(trigdata->tg_relation);
	if (!store_cols_ok)
		check_store_desc(desc);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		read_row(trigdata->tg_trigtuple, desc, &new);
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

		read_row(trigdata->tg_trigtuple, desc, &old);
		read_row(trigdata->tg_newtuple, desc, &new);
		if (strcmp(new.kind, "ocpi") == 0)
		{
			started = strcmp(new.status, "ACTIVE") == 0 && strcmp(old.status, "ACTIVE") != 0;
			stopped = ocpi_final(new.status) && !ocpi_final(old.status);
		}
		else if (strcmp(new.kind, "telemetry") == 0 || strcmp(new.kind, "invoice") == 0)
			stopped = old.ended_null && !new.ended_null;
		if (!started && !stopped && notify_updates &&
			row_changed(trigdata->tg_trigtuple, trigdata->tg_newtuple, desc))
			log_event(EV_UPDATE, &new);
	}
	if (started)
		log_event(EV_START, &new);
	if (stopped)
		log_event(EV_STOP, &new);

	return PointerGetDatum(NULL);
}
