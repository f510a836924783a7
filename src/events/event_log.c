/*
 * events/event_log.c
 *		The log writer: appends one sessions.event_log row per event and reads
 *		a logged row back into its fields. Resolves the log and its sequence
 *		from the extension's schema, checks the log's columns against the
 *		positions of events/event_log.h, and owns the event kinds' names.
 *
 * The lock-before-seq rule
 * ------------------------
 * sessions.events_head (src/sql/60_events.sql) decides how far the log is
 * final without waiting for anyone; it reads back from pg_locks what this
 * file does, in this order, for every event:
 *
 *	1. LockRelationOid(log, RowExclusiveLock), kept to the end of the
 *	   transaction (a write lock: events_head ignores AccessShareLock and
 *	   RowShareLock only);
 *	2. seq = nextval(sessions.event_seq) (CACHE 1, so seqs are handed out in
 *	   the order they are taken, across backends);
 *	3. horizon = ReadNextFullTransactionId(), read after the seq;
 *	4. the row (seq, ..., horizon) inserted in the same transaction.
 *
 * So a transaction that may still hold a seq lower than an event e's got its
 * xid before e's horizon and shows the write lock on the log in pg_locks for
 * as long as it runs: events_head treats a running transaction as a possible
 * holder of lower seqs exactly when it holds that lock, and a long
 * transaction that writes no events never holds readers back. Taking the seq
 * before the lock, or reading the horizon before the seq, would let a reader
 * pass an event that commits later. Anything else that writes the log must
 * follow the same steps.
 *
 * The row is inserted directly (heap and indexes), as logical replication
 * applies rows: no SPI, no plan, no permission or RLS check, so writers need
 * no privilege on the log and cannot forge events through it. The usual
 * log, whose one index is its primary key, takes heap_insert and one
 * index_insert with an IndexInfo kept per backend (no executor state per
 * event); a log with other indexes goes through the executor's index
 * maintenance. Columns are
 * addressed only by the Anum_event_log_* positions; the descriptor is
 * checked (count, names, types, nothing dropped) before any row is formed
 * or read, so a log altered behind the extension's back is refused rather
 * than written with another layout.
 *
 * Layering: uses session_analytics.h (the extension's objects) only; knows
 * nothing of payloads, channels, transactions or the notifier.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "session_analytics.h"
#include "events/event_log.h"

static const char *const event_names[] = {
	[EV_START] = "start",
	[EV_STOP] = "stop",
	[EV_UPDATE] = "update"
};

StaticAssertDecl(lengthof(event_names) == EV_COUNT,
				 "event_names must name every EventType");

/*
 * The columns of sessions.event_log by position: name and type, as CREATE
 * TABLE in 60_events.sql declares them.
 */
typedef struct EventLogColumn
{
	const char *name;
	Oid			type;
} EventLogColumn;

static const EventLogColumn log_columns[] = {
	[Anum_event_log_seq - 1] = {"seq", INT8OID},
	[Anum_event_log_event - 1] = {"event", TEXTOID},
	[Anum_event_log_kind - 1] = {"kind", TEXTOID},
	[Anum_event_log_namespace - 1] = {"namespace", TEXTOID},
	[Anum_event_log_session_key - 1] = {"session_key", UUIDOID},
	[Anum_event_log_external_id - 1] = {"external_id", TEXTOID},
	[Anum_event_log_status - 1] = {"status", TEXTOID},
	[Anum_event_log_event_time - 1] = {"event_time", TIMESTAMPTZOID},
	[Anum_event_log_logged_at - 1] = {"logged_at", TIMESTAMPTZOID},
	[Anum_event_log_horizon - 1] = {"horizon", XID8OID},
};

StaticAssertDecl(lengthof(log_columns) == Natts_event_log,
				 "log_columns must have one entry per column of sessions.event_log (Natts_event_log)");
StaticAssertDecl(Anum_event_log_horizon == Natts_event_log,
				 "the last Anum_event_log_ position must be Natts_event_log");

/*
 * The log and its sequence, resolved by OID from the extension's schema
 * (never from the search_path) and kept until a relcache invalidation
 * touches one of them (DROP/CREATE EXTENSION, ALTER TABLE, rename) or the
 * whole cache.
 */
static Oid	ext_log_relid = InvalidOid;
static Oid	ext_seq_relid = InvalidOid;

/*
 * The direct path's view of the log (insert_log_row): a heap whose only
 * index is its primary key on seq, with that index's IndexInfo built once.
 * Found at the first event after the cache was emptied; any relcache
 * invalidation of the log or the index (CREATE INDEX, REINDEX, ALTER, DROP)
 * empties it. A log with any other index layout takes the executor's path,
 * which maintains every index.
 */
typedef enum LogPath
{
	LOG_PATH_UNKNOWN,
	LOG_PATH_DIRECT,			/* heap_insert + the primary key's index_insert */
	LOG_PATH_EXECUTOR			/* ExecOpenIndices / ExecInsertIndexTuples */
} LogPath;
static LogPath log_path = LOG_PATH_UNKNOWN;
static Oid	log_pkey_relid = InvalidOid;
static IndexInfo *log_pkey_info = NULL;
static MemoryContext log_path_cxt = NULL;

static void event_log_relcache_callback(Datum arg, Oid relid);

/*
 * sa_event_log_init
 *		Registers the invalidation of the cached OIDs; called from _PG_init.
 */
void
sa_event_log_init(void)
{
	CacheRegisterRelcacheCallback(event_log_relcache_callback, (Datum) 0);
}

/* Forgets the cached OIDs when one of the relations (or every one) changes. */
static void
event_log_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ext_log_relid || relid == ext_seq_relid ||
		relid == log_pkey_relid)
	{
		ext_log_relid = ext_seq_relid = InvalidOid;
		/* The IndexInfo is freed when the path is chosen again. */
		log_path = LOG_PATH_UNKNOWN;
		log_pkey_relid = InvalidOid;
		log_pkey_info = NULL;
	}
}

/*
 * sa_event_log_resolve
 *		Fills the cache: the schema is the one pg_extension records for
 *		session_analytics, so objects a caller creates in its own schemas
 *		(pg_temp included) can never stand in for the log or the sequence.
 *		Errors name the missing relation.
 */
void
sa_event_log_resolve(void)
{
	Oid			extoid;
	Oid			nsp = sa_extension_schema(&extoid, false);
	Oid			log,
				seq;

	log = sa_extension_relation(extoid, nsp, "event_log", RELKIND_RELATION);
	seq = sa_extension_relation(extoid, nsp, "event_seq", RELKIND_SEQUENCE);
	ext_log_relid = log;
	ext_seq_relid = seq;
}

/*
 * sa_event_log_oid
 *		The OIDs of the extension's event log and sequence as the catalog has
 *		them now (uncached), for the notifier to tell one log from the next;
 *		InvalidOid when the extension or the log is not there.
 */
Oid
sa_event_log_oid(Oid *seqid)
{
	Oid			nsp = sa_extension_schema(NULL, true);
	Oid			log = OidIsValid(nsp) ? get_relname_relid("event_log", nsp) : InvalidOid;

	*seqid = OidIsValid(nsp) ? get_relname_relid("event_seq", nsp) : InvalidOid;
	return log;
}

/*
 * sa_event_name
 *		The "event" column's value for an event kind.
 */
const char *
sa_event_name(EventType event)
{
	Assert(event >= 0 && event < EV_COUNT);
	return event_names[event];
}

/*
 * sa_event_parse
 *		Event name to EventType; errors name the argument.
 */
EventType
sa_event_parse(const char *name)
{
	for (int i = 0; i < (int) lengthof(event_names); i++)
		if (strcmp(name, event_names[i]) == 0)
			return (EventType) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("event must be start, stop or update, got \"%s\"", name)));
	pg_unreachable();
}

/*
 * check_log_desc
 *		Defence in depth before a log tuple is formed or read: the columns
 *		must be exactly those of log_columns (60_events.sql), in order, by
 *		name and type, none dropped.
 */
static void
check_log_desc(TupleDesc desc)
{
	bool		ok = desc->natts == Natts_event_log;

	for (int i = 0; ok && i < Natts_event_log; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		ok = !att->attisdropped && att->atttypid == log_columns[i].type &&
			strcmp(NameStr(att->attname), log_columns[i].name) == 0;
	}
	if (!ok)
	{
		StringInfoData expected;

		initStringInfo(&expected);
		for (int i = 0; i < Natts_event_log; i++)
			appendStringInfo(&expected, "%s%s %s", i ? ", " : "", log_columns[i].name,
							 format_type_be(log_columns[i].type));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sessions.event_log does not have the columns session_analytics expects"),
				 errdetail("Expected (%s).", expected.data),
				 errhint("Reinstall the extension instead of altering its tables.")));
	}
}

/*
 * choose_log_path
 *		Decides how insert_log_row writes the log (see LogPath): the direct
 *		path needs a heap table whose one index is a plain unique btree on
 *		seq alone, valid and ready, with no expressions or predicate -- the
 *		primary key 60_events.sql creates. Its IndexInfo is kept in a
 *		context of its own, reset at each choice.
 */
static void
choose_log_path(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	LogPath		path = LOG_PATH_EXECUTOR;

	if (log_path_cxt == NULL)
		log_path_cxt = AllocSetContextCreate(TopMemoryContext, "session_analytics log path",
											 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(log_path_cxt);
	log_pkey_info = NULL;
	log_pkey_relid = InvalidOid;
	if (rel->rd_rel->relam == HEAP_TABLE_AM_OID && list_length(indexes) == 1)
	{
		Oid			idxid = linitial_oid(indexes);
		Relation	idx = index_open(idxid, RowExclusiveLock);
		Form_pg_index ind = idx->rd_index;

		if (idx->rd_rel->relam == BTREE_AM_OID && ind->indisunique && ind->indimmediate && ind->indisvalid &&
			ind->indisready && ind->indnatts == 1 && ind->indnkeyatts == 1 &&
			ind->indkey.values[0] == Anum_event_log_seq &&
			RelationGetIndexExpressions(idx) == NIL && RelationGetIndexPredicate(idx) == NIL)
		{
			MemoryContext old = MemoryContextSwitchTo(log_path_cxt);

			log_pkey_info = BuildIndexInfo(idx);
			MemoryContextSwitchTo(old);
			log_pkey_relid = idxid;
			path = LOG_PATH_DIRECT;
		}
		index_close(idx, NoLock);
	}
	list_free(indexes);
	log_path = path;
}

/*
 * insert_log_row
 *		Appends one row to sessions.event_log directly (heap and indexes),
 *		every column set by its Anum_event_log_ position. The caller holds
 *		RowExclusiveLock on the log. The usual log (one index, its primary
 *		key) is written with heap_insert and one index_insert, with no
 *		executor state, slot or index list per event -- the trigger's cost
 *		on every writer; any other layout through the executor's index
 *		maintenance, so no index is ever left behind.
 */
static void
insert_log_row(Oid logid, const EventFields *ev, FullTransactionId horizon)
{
	Relation	rel = table_open(logid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Datum		values[Natts_event_log];
	bool		nulls[Natts_event_log];

	check_log_desc(desc);
	memset(nulls, 0, sizeof(nulls));
#define SET(col, datum)		(values[Anum_event_log_##col - 1] = (datum))
#define SET_NULL(col)		(nulls[Anum_event_log_##col - 1] = true, values[Anum_event_log_##col - 1] = (Datum) 0)
	SET(seq, Int64GetDatum(ev->seq));
	SET(event, CStringGetTextDatum(sa_event_name(ev->event)));
	SET(kind, CStringGetTextDatum(ev->kind));
	SET(namespace, CStringGetTextDatum(ev->namespace));
	SET(session_key, UUIDPGetDatum(&ev->session_key));
	if (ev->external_id)
		SET(external_id, CStringGetTextDatum(ev->external_id));
	else
		SET_NULL(external_id);
	SET(status, CStringGetTextDatum(ev->status));
	if (ev->has_time)
		SET(event_time, TimestampTzGetDatum(ev->time));
	else
		SET_NULL(event_time);
	SET(logged_at, TimestampTzGetDatum(ev->logged_at != 0 ? ev->logged_at : GetCurrentTransactionStartTimestamp()));
	SET(horizon, FullTransactionIdGetDatum(horizon));
#undef SET
#undef SET_NULL

	if (log_path == LOG_PATH_UNKNOWN)
		choose_log_path(rel);
	if (log_path == LOG_PATH_DIRECT)
	{
		HeapTuple	tuple = heap_form_tuple(desc, values, nulls);
		Relation	idx;

		heap_insert(rel, tuple, GetCurrentCommandId(true), 0, NULL);
		idx = index_open(log_pkey_relid, RowExclusiveLock);
		index_insert(idx, &values[Anum_event_log_seq - 1], &nulls[Anum_event_log_seq - 1],
					 &tuple->t_self, rel, UNIQUE_CHECK_YES, false, log_pkey_info);
		index_close(idx, NoLock);
		heap_freetuple(tuple);
	}
	else
	{
		EState	   *estate = CreateExecutorState();
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TupleTableSlot *slot;

		InitResultRelInfo(rri, rel, 1, NULL, 0);
		ExecOpenIndices(rri, false);
		slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
		ExecClearTuple(slot);
		memcpy(slot->tts_values, values, sizeof(values));
		memcpy(slot->tts_isnull, nulls, sizeof(nulls));
		ExecStoreVirtualTuple(slot);
		table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
		ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
		ExecDropSingleTupleTableSlot(slot);
		ExecCloseIndices(rri);
		FreeExecutorState(estate);
	}
	table_close(rel, NoLock);
}

/*
 * sa_event_log_append
 *		Logs one event by the lock-before-seq rule (top of this file): locks
 *		the log, takes the next seq into ev->seq, reads the transaction-id
 *		horizon after it, and writes the row.
 */
void
sa_event_log_append(EventFields *ev)
{
	Oid			logid,
				seqid;
	FullTransactionId horizon;

	if (!OidIsValid(ext_log_relid))
		sa_event_log_resolve();
	logid = ext_log_relid;
	seqid = ext_seq_relid;

	LockRelationOid(logid, RowExclusiveLock);
	ev->seq = nextval_internal(seqid, false);
	horizon = ReadNextFullTransactionId();
	insert_log_row(logid, ev, horizon);
}

/*
 * sa_event_log_read_row
 *		The event fields of a sessions.event_log row, read by Anum_event_log_
 *		position once the row type's columns are checked; NULLs in NOT NULL
 *		columns (possible in a hand-built row) are errors. Strings are
 *		palloc'd in the current context.
 */
void
sa_event_log_read_row(HeapTupleHeader row, EventFields *ev_out)
{
	EventFields ev;
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum		d;
	bool		isnull;

	/* On error the resource owner releases the descriptor. */
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
	check_log_desc(desc);
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;

#define FIELD(col) (d = heap_getattr(&tuple, Anum_event_log_##col, desc, &isnull), isnull)
	if (FIELD(seq))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("seq must not be NULL")));
	ev.seq = DatumGetInt64(d);
	if (FIELD(event))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("event must not be NULL")));
	ev.event = sa_event_parse(TextDatumGetCString(d));
	ev.kind = FIELD(kind) ? "" : TextDatumGetCString(d);
	ev.namespace = FIELD(namespace) ? "" : TextDatumGetCString(d);
	if (FIELD(session_key))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("session_key must not be NULL")));
	ev.session_key = *DatumGetUUIDP(d);
	ev.external_id = FIELD(external_id) ? NULL : TextDatumGetCString(d);
	ev.status = FIELD(status) ? "" : TextDatumGetCString(d);
	ev.has_time = !FIELD(event_time);
	ev.time = ev.has_time ? DatumGetTimestampTz(d) : 0;
#undef FIELD
	ReleaseTupleDesc(desc);
	*ev_out = ev;
}
