/*
 * summary_capture.c
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
 * statement more than half its time (docs/benchmarks.md).
 *
 * Also time_zone_source(), which the reports' reader (report_path) asks
 * where TimeZone came from, as pg_settings.source says, without building
 * all of pg_settings (half a millisecond of a 2 ms report).
 *
 * Dependency rule: built on analytics_params.h and PostgreSQL (SPI for the
 * settings, the zones and the insert). It knows nothing of the OCPI, the
 * events or the workers.
 */
#include "postgres.h"

#include <math.h>

#include "access/heapam.h"
#include "access/table.h"
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
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "catalog/pg_type.h"

#include "analytics_params.h"

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

static SPIPlanPtr settings_plan = NULL;
static SPIPlanPtr zone_plan = NULL;
static SPIPlanPtr insert_plan = NULL;

/*
 * keep_plan
 *		A saved plan of sql (nargs parameters of types argtypes), prepared on
 *		first use.
 */
static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "summary_capture: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "summary_capture: SPI_keepplan failed");
		*plan = p;
	}
	return *plan;
}

/*
 * read_settings
 *		The effective summary settings (the row of sessions.summary_config,
 *		else the defaults, as sessions.summary_settings() says); false
 *		when summaries are off (the triggers are disabled then, so only a
 *		trigger fired in the statement that switched them off sees it).
 */
static bool
read_settings(SummaryParams *p)
{
	SPIPlanPtr	plan = keep_plan(&settings_plan,
								 "SELECT enabled, micro_threshold, volts, good_a, fair_a FROM sessions.summary_config",
								 0, NULL);
	bool		isnull;
	HeapTuple	t;
	TupleDesc	d;

	/* No row: the defaults of sessions.summary_settings(). */
	p->micro_threshold = 1.0;
	p->volts = 208;
	p->good_a = 16;
	p->fair_a = 8;
	if (SPI_execute_plan(plan, NULL, NULL, true, 2) != SPI_OK_SELECT || SPI_processed > 1)
		elog(ERROR, "summary_capture: sessions.summary_config has more than one row");
	if (SPI_processed == 0)
		return true;
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(t, d, 1, &isnull)))
		return false;
	p->micro_threshold = DatumGetFloat8(SPI_getbinval(t, d, 2, &isnull));
	p->volts = DatumGetFloat8(SPI_getbinval(t, d, 3, &isnull));
	p->good_a = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
	p->fair_a = DatumGetFloat8(SPI_getbinval(t, d, 5, &isnull));
	return true;
}

/*
 * zone_for
 *		The zone of namespace's local days: sessions.site.time_zone, UTC when
 *		it has no row or no zone. Cached in zones for the statement.
 */
static const char *
zone_for(HTAB *zones, const char *namespace, MemoryContext mcxt)
{
	char		key[NAMEDATALEN] = {0};
	ZoneEntry  *e;
	bool		found;
	ListCell   *lc;
	Datum		arg;
	char	   *zone;
	MemoryContext old;

	strlcpy(key, namespace, NAMEDATALEN);
	e = hash_search(zones, key, HASH_ENTER, &found);
	if (!found)
		e->names = NIL;
	for (lc = list_head(e->names); lc != NULL; lc = lnext(e->names, lnext(e->names, lc)))
		if (strcmp((char *) lfirst(lc), namespace) == 0)
			return (char *) lfirst(lnext(e->names, lc));

	arg = CStringGetTextDatum(namespace);
	if (SPI_execute_plan(keep_plan(&zone_plan,
								   "SELECT time_zone FROM sessions.site WHERE namespace OPERATOR(pg_catalog.=) $1",
								   1, (Oid[]) {TEXTOID}),
						 &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "summary_capture: the zone look-up failed");
	old = MemoryContextSwitchTo(mcxt);
	zone = NULL;
	if (SPI_processed == 1)
		zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (zone == NULL)
		zone = pstrdup("UTC");
	else
		zone = pstrdup(zone);
	e->names = lappend(e->names, pstrdup(namespace));
	e->names = lappend(e->names, zone);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
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
		   HTAB *keys, HTAB *zones, MemoryContext mcxt)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot;
	int			a_ns = SPI_fnumber(desc, "namespace"),
				a_kind = SPI_fnumber(desc, "kind"),
				a_site = SPI_fnumber(desc, "site"),
				a_start = SPI_fnumber(desc, "started_at"),
				a_end = SPI_fnumber(desc, "ended_at"),
				a_kwh = SPI_fnumber(desc, "kwh");
	int			ptr;
	MemoryContext rowcxt;

	if (a_ns <= 0 || a_kind <= 0 || a_site <= 0 || a_start <= 0 || a_end <= 0 || a_kwh <= 0)
		elog(ERROR, "summary_capture: sessions.store lacks a summarized column");
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
		zone = zone_for(zones, ns, mcxt);
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

/* The columns of sessions.summary_delta, in table order (70_summaries.sql). */
static const char *const delta_columns[] = {
	"namespace", "kind", "site", "day", "time_zone", "active", "completed", "empty", "micro", "normal",
	"green", "orange", "red", "kwh", "duration"
};
#define N_DELTA_COLUMNS lengthof(delta_columns)

/*
 * delta_direct_ok
 *		True when sessions.summary_delta is the table 70_summaries.sql made:
 *		its columns in that order and no index (nothing to maintain beside
 *		the heap), so a change can be appended with heap_insert. Otherwise
 *		(someone indexed it, say) the SQL INSERT is used.
 */
static bool
delta_direct_ok(Relation rel)
{
	TupleDesc	d = RelationGetDescr(rel);
	int			live = 0;

	if (rel->rd_rel->relhasindex || rel->rd_rel->relkind != RELKIND_RELATION)
		return false;
	for (int i = 0; i < d->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(d, i);

		if (a->attisdropped)
			return false;
		if (live >= (int) N_DELTA_COLUMNS || strcmp(NameStr(a->attname), delta_columns[live]) != 0)
			return false;
		live++;
	}
	return live == (int) N_DELTA_COLUMNS;
}

/*
 * insert_changes
 *		One sessions.summary_delta row per key of keys whose change is not
 *		nil: appended to the heap directly (the table has no index), else by
 *		a saved INSERT. Returns how many.
 */
static uint64
insert_changes(HTAB *keys)
{
	HASH_SEQ_STATUS seq;
	SummaryBucket *b;
	uint64		n = 0;
	Oid			types[N_DELTA_COLUMNS] = {TEXTOID, TEXTOID, TEXTOID, DATEOID, TEXTOID,
		INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, NUMERICOID, INT8OID};
	Relation	rel = table_openrv(makeRangeVar("sessions", "summary_delta", -1), RowExclusiveLock);
	bool		direct = delta_direct_ok(rel);
	SPIPlanPtr	plan = NULL;

	if (!direct)
		plan = keep_plan(&insert_plan,
						 "INSERT INTO sessions.summary_delta (namespace, kind, site, day, time_zone, active, completed, empty, "
						 "micro, normal, green, orange, red, kwh, duration) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
						 N_DELTA_COLUMNS, types);

	hash_seq_init(&seq, keys);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		for (SummaryAcc *acc = b->accs; acc != NULL; acc = acc->next)
		{
			Datum		v[N_DELTA_COLUMNS];
			bool		isnull[N_DELTA_COLUMNS] = {0};
			char		nulls[N_DELTA_COLUMNS];
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
			if (direct)
				simple_heap_insert(rel, heap_form_tuple(RelationGetDescr(rel), v, isnull));
			else
			{
				for (int i = 0; i < (int) N_DELTA_COLUMNS; i++)
					nulls[i] = isnull[i] ? 'n' : ' ';
				if (SPI_execute_plan(plan, v, nulls, false, 0) != SPI_OK_INSERT)
					elog(ERROR, "summary_capture: inserting a summary change failed");
			}
			n++;
		}
	}
	table_close(rel, NoLock);
	return n;
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

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("summary_capture must be an AFTER ... FOR EACH STATEMENT trigger of sessions.store")));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SUMMARY_LOCK_KEY1, SUMMARY_LOCK_KEY2, 2);
	(void) LockAcquire(&tag, ShareLock, false, false);

	/* Outlives the SPI procedure context (deleted by SPI_finish). */
	mcxt = AllocSetContextCreate(CurrentMemoryContext, "summary_capture", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "summary_capture: SPI_connect failed");
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		if (SPI_execute("DELETE FROM sessions.summary_delta", false, 0) != SPI_OK_DELETE)
			elog(ERROR, "summary_capture: emptying the summaries failed");
		SPI_finish();
		MemoryContextDelete(mcxt);
		return PointerGetDatum(NULL);
	}
	if (!read_settings(&p))
	{
		SPI_finish();
		MemoryContextDelete(mcxt);
		return PointerGetDatum(NULL);
	}
	kctl.keysize = offsetof(SummaryBucket, accs);
	kctl.entrysize = sizeof(SummaryBucket);
	kctl.hcxt = mcxt;
	keys = hash_create("summary_capture keys", 64, &kctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	zctl.keysize = NAMEDATALEN;
	zctl.entrysize = sizeof(ZoneEntry);
	zctl.hcxt = mcxt;
	zones = hash_create("summary_capture zones", 16, &zctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	if (td->tg_oldtable != NULL)
		accumulate(td->tg_oldtable, td->tg_relation, -1, &p, keys, zones, mcxt);
	if (td->tg_newtable != NULL)
		accumulate(td->tg_newtable, td->tg_relation, 1, &p, keys, zones, mcxt);
	(void) insert_changes(keys);

	SPI_finish();
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
