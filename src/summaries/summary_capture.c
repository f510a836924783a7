/*
 * summaries/summary_capture.c
 *		The statement trigger of sessions.store that keeps the live
 *		summaries (docs/summaries.md): it reads the statement's transition
 *		tables, sums per (namespace, kind, site, local day, zone) what the
 *		new rows add and the old rows take away, and appends one row per
 *		key with a non-nil change to sessions.summary_delta. Writers only
 *		append, so writers of one hot site-day never wait on each other.
 *
 * Each row's contribution follows sessions.summary_contribution (SQL, used
 * by summary_scan for rebuilds and checks) exactly: the day is
 * timezone(zone, started_at)::date, classes and ratings are those of the
 * scalar functions (sa_current_a, the one formula), kWh is the exact
 * decimal of the value's shortest text form and the duration is in
 * microseconds. In C because the same work in PL/pgSQL cost a write
 * statement more than half its time, and SPI in C a third of the rest
 * (docs/benchmarks.md).
 *
 * Also time_zone_source(), which the reports' reader (report_path) asks
 * where TimeZone came from, as pg_settings.source says, without building
 * all of pg_settings (half a millisecond of a 2 ms report).
 *
 * On a Citus worker the trigger fires on the store's shards: it then appends
 * to the co-located summary_delta shard and reads the node's placements of
 * the reference tables site and summary_config (resolve_shard, one scan of
 * pg_dist_shard per shard and backend, cached), and takes ROW EXCLUSIVE on
 * the node's shell summary_delta, which a rebuild through the coordinator
 * locks EXCLUSIVE on every node (docs/scale-out.md, "Live summaries").
 *
 * Dependency rule: built on analytics/analytics_params.h and PostgreSQL; it reads
 * sessions.summary_config and sessions.site and appends to
 * sessions.summary_delta directly (table access, no SPI: the writer has no
 * privilege on them and the trigger runs as the writer), or their shards and
 * placements on a Citus node (Citus's pg_dist_shard read the same way). It
 * knows nothing of the OCPI, the events or the workers.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "access/skey.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "catalog/pg_type.h"
#include "catalog/pg_namespace.h"

#include "analytics/analytics_params.h"

PG_FUNCTION_INFO_V1(sa_summary_capture);
PG_FUNCTION_INFO_V1(sa_time_zone_source);

/* The summary lock: (1935765845, 1), taken as pg_advisory_xact_lock_shared(int4, int4) would. */
#define SUMMARY_LOCK_KEY1	1935765845
#define SUMMARY_LOCK_KEY2	1

#define N_COUNTERS 8			/* active completed empty micro normal green orange red */

/* One key's change. Strings are palloc'd in the call's context. */
typedef struct SummaryAcc
{
	struct SummaryAcc *next;	/* same hash entry */
	char	   *namespace;
	char	   *kind;
	char	   *site;			/* NULL for a session without one */
	char	   *zone;
	DateADT		day;
	int64		counters[N_COUNTERS];
	Numeric		kwh;
	int64		duration;
} SummaryAcc;

/* Hash entry: the accumulators whose key hashes to h on day. */
typedef struct SummaryBucket
{
	uint64		h;
	DateADT		day;
	SummaryAcc *accs;
} SummaryBucket;

/* A namespace's zone, looked up once per statement. */
typedef struct ZoneEntry
{
	char		namespace[NAMEDATALEN];	/* only the hash key's prefix; see zone_for */
	List	   *names;			/* (namespace, zone) pairs of this prefix */
} ZoneEntry;

typedef struct SummaryParams
{
	float8		micro_threshold;
	float8		volts;
	float8		good_a;
	float8		fair_a;
} SummaryParams;


/*
 * open_table
 *		sessions.<name>, locked in mode. The extension's own tables are read
 *		and written directly (no SPI, no executor): this trigger runs for
 *		every write statement, as the writer, and the writer has no
 *		privilege on them.
 */
static Relation
open_table(const char *name, LOCKMODE mode)
{
	return table_openrv(makeRangeVar("sessions", (char *) name, -1), mode);
}

/*
 * The tables one firing of the trigger reads and writes. On one node (and
 * for sessions.store itself) every OID is InvalidOid: the tables are opened
 * by name, as before Citus (no catalog query on the hot path). On a Citus
 * worker the trigger fires on a shard of the store, and the rows belong in
 * the co-located shard of summary_delta (same hash range) and the zones
 * and settings are in the node's placements of the reference tables site
 * and summary_config: the shell tables there are empty.
 */
typedef struct SummaryRels
{
	Oid			delta;			/* summary_delta or its co-located shard */
	Oid			site;			/* site or this node's placement of it */
	Oid			config;			/* summary_config or this node's placement */
	Oid			delta_shell;	/* sessions.summary_delta on a shard's node */
} SummaryRels;

/*
 * open_rel
 *		The relation oid, or sessions.<name> when oid is InvalidOid, locked
 *		in mode. A cached shard OID whose table is gone (moved or dropped
 *		after the cache was filled) is reported, not crashed on.
 */
static Relation
open_rel(Oid oid, const char *name, LOCKMODE mode)
{
	Relation	rel;

	if (!OidIsValid(oid))
		return open_table(name, mode);
	rel = try_relation_open(oid, mode);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the shard of sessions.%s the live summaries write is no longer on this node", name),
				 errdetail("A shard move or drop ran while this statement was being planned."),
				 errhint("Retry the statement.")));
	return rel;
}

/*
 * column
 *		Attribute number of column name of rel (an error if it is missing:
 *		the table is not the one 50_summaries.sql made).
 */
static AttrNumber
column(Relation rel, const char *name)
{
	AttrNumber	a = attnameAttNum(rel, name, false);

	if (a == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of %s is missing", name, RelationGetRelationName(rel)),
				 errhint("Reinstall the extension: its live-summary tables were changed.")));
	return a;
}

/*
 * read_settings
 *		The effective summary settings (the row of sessions.summary_config,
 *		else the defaults, as sessions.summary_settings() says); false
 *		when summaries are off (the triggers are disabled then, so only a
 *		trigger fired in the statement that switched them off sees it).
 */
static bool
read_settings(SummaryParams *p, Snapshot snap, const SummaryRels *rels)
{
	Relation	rel = open_rel(rels->config, "summary_config", AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	HeapTuple	t;
	bool		enabled = true;
	bool		isnull;

	/* No row: the defaults of sessions.summary_settings(). */
	p->micro_threshold = SA_DEFAULT_MICRO_THRESHOLD;
	p->volts = SA_DEFAULT_VOLTS;
	p->good_a = SA_DEFAULT_GOOD_AMPS;
	p->fair_a = SA_DEFAULT_FAIR_AMPS;
	if ((t = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	d = RelationGetDescr(rel);

		enabled = DatumGetBool(heap_getattr(t, column(rel, "enabled"), d, &isnull));
		p->micro_threshold = DatumGetFloat8(heap_getattr(t, column(rel, "micro_threshold"), d, &isnull));
		p->volts = DatumGetFloat8(heap_getattr(t, column(rel, "volts"), d, &isnull));
		p->good_a = DatumGetFloat8(heap_getattr(t, column(rel, "good_a"), d, &isnull));
		p->fair_a = DatumGetFloat8(heap_getattr(t, column(rel, "fair_a"), d, &isnull));
	}
	table_endscan(scan);
	table_close(rel, NoLock);
	return enabled;
}

/*
 * zone_for
 *		The zone of namespace's local days: sessions.site.time_zone, UTC when
 *		it has no row or no zone (read through the site's primary key).
 *		Cached in zones for the statement.
 */
static const char *
zone_for(HTAB *zones, const char *namespace, MemoryContext mcxt, Snapshot snap, const SummaryRels *rels)
{
	char		key[NAMEDATALEN] = {0};
	ZoneEntry  *e;
	bool		found;
	ListCell   *lc;
	char	   *zone = NULL;
	MemoryContext old;
	Relation	rel;
	Relation	idx;
	Oid			pk;
	ScanKeyData sk;
	SysScanDesc scan;
	HeapTuple	t;

	strlcpy(key, namespace, NAMEDATALEN);
	e = hash_search(zones, key, HASH_ENTER, &found);
	if (!found)
		e->names = NIL;
	for (lc = list_head(e->names); lc != NULL; lc = lnext(e->names, lnext(e->names, lc)))
		if (strcmp((char *) lfirst(lc), namespace) == 0)
			return (char *) lfirst(lnext(e->names, lc));

	rel = open_rel(rels->site, "site", AccessShareLock);
	pk = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s has no primary key", RelationGetRelationName(rel)),
				 errhint("Reinstall the extension: the live summaries look zones up by the site's primary key.")));
	idx = index_open(pk, AccessShareLock);
	ScanKeyEntryInitialize(&sk, 0, 1, BTEqualStrategyNumber, InvalidOid, idx->rd_indcollation[0],
						   F_TEXTEQ, CStringGetTextDatum(namespace));
	scan = systable_beginscan(rel, pk, true, snap, 1, &sk);
	old = MemoryContextSwitchTo(mcxt);
	if ((t = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		z = heap_getattr(t, column(rel, "time_zone"), RelationGetDescr(rel), &isnull);

		if (!isnull)
			zone = TextDatumGetCString(z);
	}
	if (zone == NULL)
		zone = pstrdup("UTC");
	e->names = lappend(e->names, pstrdup(namespace));
	e->names = lappend(e->names, zone);
	MemoryContextSwitchTo(old);
	systable_endscan(scan);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return zone;
}

/*
 * kwh_numeric
 *		The exact decimal of kwh's shortest text form (what kwh::text::numeric
 *		gives with extra_float_digits = 1, as summary_contribution computes).
 */
static Numeric
kwh_numeric(float8 kwh)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(kwh, buf);
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/*
 * text_attr
 *		Column attno of slot as a C string in mcxt, NULL for NULL.
 */
static char *
text_attr(TupleTableSlot *slot, int attno)
{
	bool		isnull;
	Datum		v = slot_getattr(slot, attno, &isnull);

	return isnull ? NULL : TextDatumGetCString(v);
}

/*
 * key_hash
 *		Hash of a key's strings (the day is a separate part of the hash key).
 */
static uint64
key_hash(const char *ns, const char *kind, const char *site, const char *zone)
{
	uint64		h = hash_bytes_extended((const unsigned char *) ns, strlen(ns), 0);

	h = hash_combine64(h, hash_bytes_extended((const unsigned char *) kind, strlen(kind), 1));
	h = hash_combine64(h, site ? hash_bytes_extended((const unsigned char *) site, strlen(site), 2) : 7);
	return hash_combine64(h, hash_bytes_extended((const unsigned char *) zone, strlen(zone), 3));
}

/*
 * accumulate
 *		Adds sign times the contribution of every row of ts (a transition
 *		table of sessions.store) to its key's accumulator in keys.
 */
static void
accumulate(Tuplestorestate *ts, Relation rel, int sign, const SummaryParams *p,
		   HTAB *keys, HTAB *zones, MemoryContext mcxt, Snapshot snap, const SummaryRels *rels)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot;
	int			a_ns = column(rel, "namespace"),
				a_kind = column(rel, "kind"),
				a_site = column(rel, "site"),
				a_start = column(rel, "started_at"),
				a_end = column(rel, "ended_at"),
				a_kwh = column(rel, "kwh");
	int			ptr;
	MemoryContext rowcxt;

	rowcxt = AllocSetContextCreate(mcxt, "summary_capture row", ALLOCSET_SMALL_SIZES);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull,
					endnull,
					kwhnull;
		TimestampTz start,
					end = 0;
		float8		kwh = 0;
		char	   *ns,
				   *kind,
				   *site;
		const char *zone;
		DateADT		day;
		uint64		h;
		SummaryBucket *b;
		SummaryAcc *acc;
		bool		found;
		int64		c[N_COUNTERS] = {0};
		int64		dur = 0;
		MemoryContext old;

		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		start = DatumGetTimestampTz(slot_getattr(slot, a_start, &isnull));
		if (isnull)
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		if (TIMESTAMP_NOT_FINITE(start))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("started_at must be finite for the live summaries"),
					 errhint("Store a finite started_at, or switch summaries off (sessions.configure_summaries(false)).")));
		end = DatumGetTimestampTz(slot_getattr(slot, a_end, &endnull));
		kwh = DatumGetFloat8(slot_getattr(slot, a_kwh, &kwhnull));

		ns = text_attr(slot, a_ns);
		kind = text_attr(slot, a_kind);
		site = text_attr(slot, a_site);
		zone = zone_for(zones, ns, mcxt, snap, rels);
		day = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
												  DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(zone),
																	  TimestampTzGetDatum(start))));

		/* The contribution, as summary_contribution computes it. */
		if (endnull)
			c[0] = 1;
		else
		{
			if (TIMESTAMP_NOT_FINITE(end))
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("ended_at must be finite for the live summaries"),
						 errhint("Store a finite ended_at, or switch summaries off (sessions.configure_summaries(false)).")));
			if (pg_sub_s64_overflow(end, start, &dur))
				sa_out_of_range("ended_at - started_at");
			c[1] = 1;
			if (!kwhnull)
			{
				if (kwh == 0)
					c[2] = 1;
				else if (kwh > 0 && kwh < p->micro_threshold)
					c[3] = 1;
				else if (kwh >= p->micro_threshold)
					c[4] = 1;
				if (dur > 0)
				{
					float8		amps;

					sa_check_kwh(kwh);
					amps = sa_current_a(kwh, dur, p->volts);
					if (amps >= p->good_a)
						c[5] = 1;
					else if (amps >= p->fair_a)
						c[6] = 1;
					else
						c[7] = 1;
				}
			}
		}

		h = key_hash(ns, kind, site, zone);
		{
			SummaryBucket probe;

			memset(&probe, 0, sizeof(probe));	/* the key's padding too */
			probe.h = h;
			probe.day = day;
			b = hash_search(keys, &probe, HASH_ENTER, &found);
		}
		if (!found)
			b->accs = NULL;
		for (acc = b->accs; acc != NULL; acc = acc->next)
			if (strcmp(acc->namespace, ns) == 0 && strcmp(acc->kind, kind) == 0 &&
				(acc->site == NULL) == (site == NULL) && (site == NULL || strcmp(acc->site, site) == 0) &&
				strcmp(acc->zone, zone) == 0)
				break;
		if (acc == NULL)
		{
			MemoryContextSwitchTo(mcxt);
			acc = palloc0(sizeof(SummaryAcc));
			acc->namespace = pstrdup(ns);
			acc->kind = pstrdup(kind);
			acc->site = site ? pstrdup(site) : NULL;
			acc->zone = (char *) zone;
			acc->day = day;
			acc->kwh = int64_to_numeric(0);
			acc->next = b->accs;
			b->accs = acc;
			MemoryContextSwitchTo(rowcxt);
		}
		for (int i = 0; i < N_COUNTERS; i++)
			if (pg_add_s64_overflow(acc->counters[i], sign * c[i], &acc->counters[i]))
				sa_out_of_range("summary counter");
		if (!endnull && !kwhnull)
		{
			Numeric		k = kwh_numeric(kwh);
			Numeric		sum = DatumGetNumeric(DirectFunctionCall2(sign > 0 ? numeric_add : numeric_sub,
																  NumericGetDatum(acc->kwh), NumericGetDatum(k)));
			Numeric		kept = MemoryContextAlloc(mcxt, VARSIZE(sum));

			/* the running sum lives in mcxt; the row's garbage in rowcxt */
			memcpy(kept, sum, VARSIZE(sum));
			pfree(acc->kwh);
			acc->kwh = kept;
		}
		if (!endnull && pg_add_s64_overflow(acc->duration, sign * dur, &acc->duration))
			sa_out_of_range("summary duration");
		MemoryContextSwitchTo(old);
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
}

/* The columns of sessions.summary_delta, in table order (50_summaries.sql). */
static const char *const delta_columns[] = {
	"namespace", "kind", "site", "day", "time_zone", "active", "completed", "empty", "micro", "normal",
	"green", "orange", "red", "kwh", "duration"
};
#define N_DELTA_COLUMNS lengthof(delta_columns)

/*
 * check_delta_layout
 *		sessions.summary_delta must be the table 50_summaries.sql made: its
 *		columns in that order (the values are formed positionally).
 */
static void
check_delta_layout(Relation rel)
{
	TupleDesc	d = RelationGetDescr(rel);
	int			live = 0;

	for (int i = 0; i < d->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(d, i);

		if (a->attisdropped)
			continue;
		if (live >= (int) N_DELTA_COLUMNS || strcmp(NameStr(a->attname), delta_columns[live]) != 0)
			break;
		live++;
	}
	if (live != (int) N_DELTA_COLUMNS || d->natts != (int) N_DELTA_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sessions.summary_delta does not have the columns the live summaries write"),
				 errhint("Reinstall the extension, or switch summaries off (sessions.configure_summaries(false)).")));
}

/*
 * insert_changes
 *		One sessions.summary_delta row per key of keys whose change is not
 *		nil, appended to the heap (with its indexes, if anyone added one).
 *		Returns how many.
 */
static uint64
insert_changes(HTAB *keys, const SummaryRels *rels)
{
	HASH_SEQ_STATUS seq;
	SummaryBucket *b;
	uint64		n = 0;
	Relation	rel = open_rel(rels->delta, "summary_delta", RowExclusiveLock);

	check_delta_layout(rel);
	hash_seq_init(&seq, keys);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		for (SummaryAcc *acc = b->accs; acc != NULL; acc = acc->next)
		{
			Datum		v[N_DELTA_COLUMNS];
			bool		isnull[N_DELTA_COLUMNS] = {0};
			HeapTuple	tup;
			bool		nil = acc->duration == 0 &&
				DatumGetInt32(DirectFunctionCall1(numeric_sign, NumericGetDatum(acc->kwh))) == 0;

			for (int i = 0; i < N_COUNTERS; i++)
				nil = nil && acc->counters[i] == 0;
			if (nil)
				continue;
			v[0] = CStringGetTextDatum(acc->namespace);
			v[1] = CStringGetTextDatum(acc->kind);
			v[2] = acc->site != NULL ? CStringGetTextDatum(acc->site) : (Datum) 0;
			isnull[2] = acc->site == NULL;
			v[3] = DateADTGetDatum(acc->day);
			v[4] = CStringGetTextDatum(acc->zone);
			for (int i = 0; i < N_COUNTERS; i++)
				v[5 + i] = Int64GetDatum(acc->counters[i]);
			v[13] = NumericGetDatum(acc->kwh);
			v[14] = Int64GetDatum(acc->duration);
			tup = heap_form_tuple(RelationGetDescr(rel), v, isnull);
			if (rel->rd_rel->relhasindex)
				CatalogTupleInsert(rel, tup);
			else
				simple_heap_insert(rel, tup);
			n++;
		}
	}
	table_close(rel, NoLock);
	return n;
}

/*
 * empty_summaries
 *		Deletes every row of sessions.summary_delta (TRUNCATE of the store;
 *		on a worker, of the co-located shard: Citus truncates shard by shard).
 */
static void
empty_summaries(const SummaryRels *rels)
{
	Relation	rel = open_rel(rels->delta, "summary_delta", RowExclusiveLock);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	HeapTuple	t;

	while ((t = heap_getnext(scan, ForwardScanDirection)) != NULL)
		simple_heap_delete(rel, &t->t_self);
	table_endscan(scan);
	table_close(rel, NoLock);
}

/*
 * The shards this node's backend has fired on, keyed by the store shard's
 * OID: the relations its deltas, zones and settings are in. Filled at the
 * first statement on a shard (one scan of pg_dist_shard), forgotten when a
 * relcache invalidation names the shard or one of its targets (a shard
 * move drops them), or names no relation.
 */
typedef struct ShardTarget
{
	Oid			relid;			/* hash key: the store shard */
	SummaryRels rels;
} ShardTarget;

static HTAB *shard_targets = NULL;

/*
 * shard_relcache_callback
 *		Forgets the cached shards whose relations an invalidation touches
 *		(all of them for a whole-cache one).
 */
static void
shard_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS it;
	ShardTarget *t;

	if (shard_targets == NULL)
		return;
	hash_seq_init(&it, shard_targets);
	while ((t = hash_seq_search(&it)) != NULL)
		if (!OidIsValid(relid) || relid == t->relid || relid == t->rels.delta ||
			relid == t->rels.site || relid == t->rels.config)
			(void) hash_search(shard_targets, &t->relid, HASH_REMOVE, NULL);
}

/*
 * shard_table
 *		sessions.<name>_<shardid>, which must exist on this node.
 */
static Oid
shard_table(Oid nsp, const char *name, int64 shardid)
{
	char	   *rel = psprintf("%s_" INT64_FORMAT, name, shardid);
	Oid			oid = get_relname_relid(rel, nsp);

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no placement sessions.%s for the live summaries", rel),
				 errdetail("A shard of sessions.store is here, but not the %s shard the live summaries read or write with it.",
						   name),
				 errhint("Run SELECT * FROM sessions.distribute() on the coordinator (it copies the reference tables to every node and keeps summary_delta co-located with the store).")));
	return oid;
}

/*
 * resolve_shard
 *		Whether rel is a shard of sessions.store on this Citus node (named
 *		store_<shardid> in the schema, recorded as one of the store in
 *		pg_dist_shard, which Citus syncs to every node) and, if so, the
 *		relations its trigger uses: the summary_delta shard of the same hash
 *		range (co-located: same shardminvalue) and this node's placements
 *		of the reference tables site and summary_config. One heap scan of
 *		pg_dist_shard with a fresh snapshot (a table of a few rows per
 *		shard; no SPI, no planner, no distributed query from inside the
 *		shard's statement), cached per backend until invalidated.
 */
static bool
resolve_shard(Relation rel, SummaryRels *out)
{
	const char *name = RelationGetRelationName(rel);
	Oid			nsp = RelationGetNamespace(rel);
	Oid			relid = RelationGetRelid(rel);
	Oid			catalog;
	Oid			store,
				delta,
				site,
				config;
	int64		shardid;
	size_t		digits;
	ShardTarget *t;
	bool		found;
	Relation	cat;
	TupleDesc	desc;
	AttrNumber	a_rel,
				a_shard,
				a_min;
	Snapshot	snap;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *min = NULL;
	bool		is_store = false;
	int64		delta_id = 0,
				site_id = 0,
				config_id = 0;
	List	   *deltas = NIL;	/* (shardid, minvalue) of summary_delta */
	ListCell   *lc;

	if (shard_targets != NULL &&
		(t = hash_search(shard_targets, &relid, HASH_FIND, NULL)) != NULL)
	{
		*out = t->rels;
		return true;
	}
	if (strncmp(name, "store_", 6) != 0 || nsp != get_namespace_oid("sessions", true))
		return false;
	digits = strspn(name + 6, "0123456789");
	if (digits == 0 || digits > 18 || name[6 + digits] != '\0')
		return false;
	shardid = strtoi64(name + 6, NULL, 10);
	catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	store = get_relname_relid("store", nsp);
	delta = get_relname_relid("summary_delta", nsp);
	site = get_relname_relid("site", nsp);
	config = get_relname_relid("summary_config", nsp);
	if (!OidIsValid(catalog) || !OidIsValid(store) || !OidIsValid(delta) ||
		!OidIsValid(site) || !OidIsValid(config))
		return false;

	cat = table_open(catalog, AccessShareLock);
	desc = RelationGetDescr(cat);
	a_rel = attnameAttNum(cat, "logicalrelid", false);
	a_shard = attnameAttNum(cat, "shardid", false);
	a_min = attnameAttNum(cat, "shardminvalue", false);
	if (a_rel == InvalidAttrNumber || a_shard == InvalidAttrNumber || a_min == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_catalog.pg_dist_shard lacks the columns the live summaries read"),
				 errhint("The live summaries read the shard metadata of Citus 11 to 13.")));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(cat, InvalidOid, false, snap, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		n1,
					n2,
					n3;
		Oid			logical = DatumGetObjectId(heap_getattr(tup, a_rel, desc, &n1));
		int64		id = DatumGetInt64(heap_getattr(tup, a_shard, desc, &n2));
		Datum		m = heap_getattr(tup, a_min, desc, &n3);

		if (n1 || n2)
			continue;
		if (logical == store && id == shardid)
		{
			is_store = true;
			min = n3 ? NULL : TextDatumGetCString(m);
		}
		else if (logical == delta)
			deltas = lappend(lappend(deltas, psprintf(INT64_FORMAT, id)), n3 ? NULL : TextDatumGetCString(m));
		else if (logical == site)
			site_id = id;
		else if (logical == config)
			config_id = id;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(cat, AccessShareLock);
	if (!is_store)
		return false;
	for (lc = list_head(deltas); lc != NULL; lc = lnext(deltas, lnext(deltas, lc)))
	{
		char	   *dmin = (char *) lfirst(lnext(deltas, lc));

		if (min != NULL && dmin != NULL && strcmp(min, dmin) == 0)
			delta_id = strtoi64((char *) lfirst(lc), NULL, 10);
	}
	if (delta_id == 0 || site_id == 0 || config_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the live summaries of shard %s have no co-located summary_delta shard or no placement of site or summary_config", name),
				 errdetail("On a Citus cluster summary_delta must be distributed by namespace co-located with sessions.store, and site and summary_config must be reference tables."),
				 errhint("Run SELECT * FROM sessions.distribute() on the coordinator.")));
	out->delta = shard_table(nsp, "summary_delta", delta_id);
	out->site = shard_table(nsp, "site", site_id);
	out->config = shard_table(nsp, "summary_config", config_id);
	out->delta_shell = delta;

	if (shard_targets == NULL)
	{
		HASHCTL		ctl = {0};

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ShardTarget);
		ctl.hcxt = CacheMemoryContext;
		shard_targets = hash_create("summary_capture shards", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(shard_relcache_callback, (Datum) 0);
	}
	t = hash_search(shard_targets, &relid, HASH_ENTER, &found);
	t->rels = *out;
	return true;
}

/*
 * store_distributed
 *		Whether store (sessions.store itself) is a Citus distributed table:
 *		pg_dist_partition names it. Asked on TRUNCATE only (one heap scan);
 *		false without Citus.
 */
static bool
store_distributed(Oid store)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	Relation	cat;
	AttrNumber	a_rel;
	Snapshot	snap;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(catalog))
		return false;
	cat = table_open(catalog, AccessShareLock);
	a_rel = attnameAttNum(cat, "logicalrelid", false);
	if (a_rel == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_catalog.pg_dist_partition lacks the column logicalrelid the live summaries read"),
				 errhint("The live summaries read the metadata of Citus 11 to 13.")));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(cat, InvalidOid, false, snap, 0, NULL);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, a_rel, RelationGetDescr(cat), &isnull);

		found = !isnull && DatumGetObjectId(d) == store;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(cat, AccessShareLock);
	return found;
}

/*
 * truncate_distributed_summaries
 *		TRUNCATE of a distributed store, fired on its shell on the
 *		coordinator: the summaries are emptied by a distributed TRUNCATE of
 *		summary_delta, as its owner (owner) (the writer may hold no privilege on it).
 *		Citus does not keep the shards' TRUNCATE triggers in step with the
 *		store's (it propagates no ENABLE/DISABLE of a truncate trigger), so
 *		the shards' own cannot be relied on. SPI: a rare statement, not the
 *		write path.
 */
static void
truncate_distributed_summaries(Oid owner)
{
	Oid			save_user;
	int			save_sec;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("summary_capture: could not connect to SPI to empty the distributed summaries"),
				 errhint("Empty them by hand: TRUNCATE sessions.summary_delta (as the extension's owner).")));
	if (SPI_execute("TRUNCATE sessions.summary_delta", false, 0) != SPI_OK_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("summary_capture: TRUNCATE sessions.summary_delta failed"),
				 errhint("Empty them by hand: TRUNCATE sessions.summary_delta (as the extension's owner).")));
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * sa_summary_capture
 *		AFTER ... FOR EACH STATEMENT trigger of sessions.store: INSERT (NEW
 *		TABLE), UPDATE (OLD and NEW TABLE), DELETE (OLD TABLE) append their
 *		summary changes; TRUNCATE empties the summaries. Holds the summary
 *		lock in share mode (rebuilds take it exclusively).
 */
Datum
sa_summary_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	LOCKTAG		tag;
	SummaryParams p;
	HASHCTL		kctl = {0},
				zctl = {0};
	HTAB	   *keys,
			   *zones;
	MemoryContext mcxt;
	Snapshot	snap;
	SummaryRels rels = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("summary_capture must be an AFTER ... FOR EACH STATEMENT trigger of sessions.store")));

	/*
	 * Nothing to summarize: an UPDATE or DELETE that matched no row, or the
	 * half of an INSERT ... ON CONFLICT DO UPDATE that did not happen (both
	 * statement triggers fire for every ocpi_put).
	 */
	if (!TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) &&
		(td->tg_oldtable == NULL || tuplestore_tuple_count(td->tg_oldtable) == 0) &&
		(td->tg_newtable == NULL || tuplestore_tuple_count(td->tg_newtable) == 0))
		return PointerGetDatum(NULL);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SUMMARY_LOCK_KEY1, SUMMARY_LOCK_KEY2, 2);
	(void) LockAcquire(&tag, ShareLock, false, false);

	/*
	 * Only sessions.store's rows may become summaries: the store itself
	 * (one node, by name: no catalog query), or a shard of it on a Citus
	 * node, whose deltas go to the co-located summary_delta shard.
	 */
	if (strcmp(RelationGetRelationName(td->tg_relation), "store") != 0 ||
		get_namespace_oid("sessions", false) != RelationGetNamespace(td->tg_relation))
	{
		if (!resolve_shard(td->tg_relation, &rels))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("summary_capture must be a trigger of sessions.store or its Citus shards, not of \"%s\"",
							RelationGetRelationName(td->tg_relation))));

		/*
		 * A rebuild through the coordinator locks sessions.summary_delta
		 * EXCLUSIVE on every node (Citus propagates LOCK TABLE to the
		 * workers' shell tables in the coordinated transaction); the
		 * advisory lock above is this node's only. Writers take ROW
		 * EXCLUSIVE on the shell, so they never wait on each other, and
		 * one that waited reads the settings and zones the rebuild
		 * committed (latest snapshot, below).
		 */
		LockRelationOid(rels.delta_shell, RowExclusiveLock);
	}

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		if (!OidIsValid(rels.delta) && store_distributed(RelationGetRelid(td->tg_relation)))
		{
			Relation	shell = open_table("summary_delta", AccessShareLock);
			Oid			owner = shell->rd_rel->relowner;

			/* closed first: TRUNCATE refuses a table this backend has open */
			table_close(shell, NoLock);
			truncate_distributed_summaries(owner);
		}
		else
			empty_summaries(&rels);
		return PointerGetDatum(NULL);
	}
	/*
	 * The settings and zones as of now, not as of the statement's (or, at
	 * REPEATABLE READ, the transaction's) snapshot: a rebuild that this
	 * writer waited for above (a zone change, configure_summaries) has
	 * committed, and its zone and parameters are the ones to use.
	 */
	snap = RegisterSnapshot(GetLatestSnapshot());
	if (!read_settings(&p, snap, &rels))
	{
		UnregisterSnapshot(snap);
		return PointerGetDatum(NULL);
	}
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "summary_capture", ALLOCSET_DEFAULT_SIZES);
	kctl.keysize = offsetof(SummaryBucket, accs);
	kctl.entrysize = sizeof(SummaryBucket);
	kctl.hcxt = mcxt;
	keys = hash_create("summary_capture keys", 64, &kctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	zctl.keysize = NAMEDATALEN;
	zctl.entrysize = sizeof(ZoneEntry);
	zctl.hcxt = mcxt;
	zones = hash_create("summary_capture zones", 16, &zctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	if (td->tg_oldtable != NULL)
		accumulate(td->tg_oldtable, td->tg_relation, -1, &p, keys, zones, mcxt, snap, &rels);
	if (td->tg_newtable != NULL)
		accumulate(td->tg_newtable, td->tg_relation, 1, &p, keys, zones, mcxt, snap, &rels);
	(void) insert_changes(keys, &rels);
	UnregisterSnapshot(snap);
	MemoryContextDelete(mcxt);
	return PointerGetDatum(NULL);
}

/*
 * sa_time_zone_source
 *		pg_settings.source of TimeZone ('default', 'configuration file',
 *		'session', 'client', 'user', 'database', ...) for this session.
 */
Datum
sa_time_zone_source(PG_FUNCTION_ARGS)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
		if (pg_strcasecmp(vars[i]->name, "TimeZone") == 0)
			PG_RETURN_TEXT_P(cstring_to_text(GucSource_Names[vars[i]->source]));
	PG_RETURN_NULL();
}
