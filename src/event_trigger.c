/*
 * event_trigger.c
 *		Session start/stop events: the store trigger, the event log, NOTIFY.
 *
 * The AFTER ROW trigger on sessions.store derives events from the store's
 * columns (START: row inserted, OCPI status moving into ACTIVE; STOP:
 * ended_at NULL -> set for telemetry/invoice, OCPI status moving into
 * COMPLETED/INVALID; UPDATE: any other change, when notify_updates is on),
 * inserts one sessions.event_log row per event and remembers a notification
 * per channel. Notifications are queued with Async_Notify just before commit
 * (XACT_EVENT_PRE_COMMIT), so a transaction that rolls back records and sends
 * nothing, and one with many events on a channel sends one range
 * notification instead of one per event (docs/notifications.md). When the
 * notifier delivers for this database, the writer queues nothing and only
 * wakes it after commit; the notifier announces the logged rows with the
 * same functions (sa_events_announce). Which of the two sends is asked of
 * the hand-off (notify_handoff.h, whose .c states the contract); this file
 * knows nothing of the notifier worker itself.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "session_analytics.h"
#include "notify_handoff.h"

PG_FUNCTION_INFO_V1(sa_store_events);
PG_FUNCTION_INFO_V1(sa_channel_for);
PG_FUNCTION_INFO_V1(sa_event_payload);
PG_FUNCTION_INFO_V1(sa_prune_events);

/* GUCs */
static bool notify_enabled = true;
static bool notify_updates = false;
static int	notify_coalesce_after = 100;
static int	event_retention_min = 7 * 24 * 60;

/* Longest JSON-escaped text field in a payload; keeps payloads < 8000 bytes. */
#define PAYLOAD_FIELD_MAX 1024

typedef enum EventType
{
	EV_START,
	EV_STOP,
	EV_UPDATE
} EventType;

static const char *const event_names[] = {"start", "stop", "update"};

/*
 * The fields of one event, as logged and as put in its payload. Strings
 * point into the trigger's tuples or the caller's memory.
 */
typedef struct EventFields
{
	int64		seq;
	EventType	event;
	const char *kind;
	const char *namespace;
	pg_uuid_t	session_key;
	const char *external_id;	/* NULL when the session has none */
	const char *status;
	bool		has_time;
	TimestampTz time;
} EventFields;

/*
 * Notifications owed to one channel by the current transaction. Counts are
 * kept per subtransaction level (innermost last) so a rolled-back
 * subtransaction's events can be taken back; per-event payloads are kept
 * until the channel passes notify_coalesce_after, then only the range.
 */
typedef struct ChannelSeg
{
	int			level;
	int64		count;
	int64		first;
	int64		last;
} ChannelSeg;

typedef struct ChannelItem
{
	int			level;
	int64		seq;
	char	   *payload;
} ChannelItem;

typedef struct ChannelState
{
	char		name[NAMEDATALEN];	/* hash key */
	EventType	event;
	char	   *namespace;		/* NULL for the all-namespaces channel */
	int			nsegs,
				maxsegs;
	ChannelSeg *segs;
	int			nitems,
				maxitems;
	ChannelItem *items;
	bool		coalesced;		/* items dropped: send one range */
	struct ChannelState *next;	/* creation order */
} ChannelState;

/* Transaction-lifetime state, in TopTransactionContext; NULL when idle. */
static HTAB *pending_channels = NULL;
static ChannelState *pending_first = NULL;
static ChannelState *pending_last = NULL;

/*
 * How this transaction's logged events reach listeners, chosen at its first
 * event: queued here (commit mode) or by the notifier, which this
 * transaction wakes once it has ended.
 */
typedef enum XactDelivery
{
	DELIVERY_NONE,				/* no event logged (or notify = off) */
	DELIVERY_COMMIT,
	DELIVERY_NOTIFIER
} XactDelivery;
static XactDelivery xact_delivery = DELIVERY_NONE;

/*
 * The extension's own objects, resolved by OID from its schema (never from
 * the firing table's schema or the search_path) at the first event of a
 * backend, and kept until a relcache invalidation touches one of them
 * (DROP/CREATE EXTENSION, ALTER TABLE, rename) or the whole cache. The
 * store's column numbers are checked once per cached descriptor.
 */
static Oid	ext_store_relid = InvalidOid;
static Oid	ext_log_relid = InvalidOid;
static Oid	ext_seq_relid = InvalidOid;
static bool store_cols_ok = false;

/* Columns of sessions.store the trigger reads, by attribute number. */
enum
{
	SC_KIND, SC_NAMESPACE, SC_EXTERNAL_ID, SC_STATUS, SC_SESSION_KEY,
	SC_STARTED_AT, SC_ENDED_AT, SC_LAST_UPDATED, SC_N
};
static const char *const store_col_names[SC_N] = {
	"kind", "namespace", "external_id", "status", "session_key",
	"started_at", "ended_at", "last_updated"
};
static const Oid store_col_types[SC_N] = {
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, UUIDOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID
};
static AttrNumber store_att[SC_N];

/* The column types of sessions.event_log, in order (60_events.sql). */
#define LOG_NATTS 10
static const Oid log_col_types[LOG_NATTS] = {
	INT8OID, TEXTOID, TEXTOID, TEXTOID, UUIDOID,
	TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, XID8OID
};

static void events_xact_callback(XactEvent event, void *arg);
static void events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void events_relcache_callback(Datum arg, Oid relid);

/*
 * sa_events_init
 *		Registers this file's GUCs and the transaction callbacks that send the
 *		notifications; called from _PG_init.
 */
void
sa_events_init(void)
{
	DefineCustomBoolVariable(SA_GUC_PREFIX ".notify",
							 "Send NOTIFYs for logged events (off: readers poll sessions.events_since).",
							 NULL, &notify_enabled, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(SA_GUC_PREFIX ".notify_updates",
							 "Also log and notify UPDATE events (store changes that neither start nor stop a session).",
							 NULL, &notify_updates, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(SA_GUC_PREFIX ".notify_coalesce_after",
							"Per transaction and channel, events beyond this many are announced by one range notification.",
							"0 always sends a range notification.",
							&notify_coalesce_after, 100, 0, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(SA_GUC_PREFIX ".event_retention",
							"Events older than this are removed by sessions.prune_events(); 0 keeps them.",
							NULL, &event_retention_min, 7 * 24 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);

	RegisterXactCallback(events_xact_callback, NULL);
	RegisterSubXactCallback(events_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(events_relcache_callback, (Datum) 0);
}

/* Forgets the cached OIDs when one of the relations (or every one) changes. */
static void
events_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ext_store_relid ||
		relid == ext_seq_relid || relid == ext_log_relid)
	{
		ext_store_relid = ext_log_relid = ext_seq_relid = InvalidOid;
		store_cols_ok = false;
	}
}

/*
 * resolve_ext_objects
 *		Fills the cache: the schema is the one pg_extension records for
 *		session_analytics, so objects a caller creates in its own schemas
 *		(pg_temp included) can never stand in for the store, log or sequence.
 */
static void
resolve_ext_objects(void)
{
	Oid			extoid;
	Oid			nsp = sa_extension_schema(&extoid, false);
	Oid			store,
				log,
				seq;

	store = sa_extension_relation(extoid, nsp, "store", RELKIND_RELATION);
	log = sa_extension_relation(extoid, nsp, "event_log", RELKIND_RELATION);
	seq = sa_extension_relation(extoid, nsp, "event_seq", RELKIND_SEQUENCE);
	ext_store_relid = store;
	ext_log_relid = log;
	ext_seq_relid = seq;
	store_cols_ok = false;
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
 * check_log_desc
 *		Defence in depth before a log tuple is formed or read: the columns
 *		must be exactly those of 60_events.sql, in order and type.
 */
static void
check_log_desc(TupleDesc desc)
{
	bool		ok = desc->natts == LOG_NATTS;

	for (int i = 0; ok && i < LOG_NATTS; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		ok = !att->attisdropped && att->atttypid == log_col_types[i];
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sessions.event_log does not have the columns session_analytics expects"),
				 errdetail("Expected (seq bigint, event text, kind text, namespace text, session_key uuid, "
						   "external_id text, status text, event_time timestamptz, logged_at timestamptz, horizon xid8)."),
				 errhint("Reinstall the extension instead of altering its tables.")));
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

/* ---------------------------------------------------------------------
 * Payloads and channel names
 * ---------------------------------------------------------------------
 */

/*
 * append_json_text
 *		Appends s as a JSON string, cut at a character boundary so the escaped
 *		text stays within PAYLOAD_FIELD_MAX bytes; returns true when cut.
 */
static bool
append_json_text(StringInfo buf, const char *s)
{
	StringInfoData tmp;
	int			len = strlen(s);
	int			keep = len;

	initStringInfo(&tmp);
	for (;;)
	{
		char	   *part = pnstrdup(s, keep);

		resetStringInfo(&tmp);
		escape_json(&tmp, part);
		pfree(part);
		if (tmp.len <= PAYLOAD_FIELD_MAX)
			break;
		/* Escapes expand at most 6x: shrink in proportion, then re-check. */
		keep = pg_mbcliplen(s, keep, Min(keep - 1, (int) ((int64) keep * PAYLOAD_FIELD_MAX / tmp.len)));
	}
	appendBinaryStringInfo(buf, tmp.data, tmp.len);
	pfree(tmp.data);
	return keep < len;
}

/*
 * build_payload
 *		The JSON payload of one event. Only identifiers and times: never the
 *		user reference or the document, since LISTEN has no permission check.
 */
static char *
build_payload(const EventFields *ev)
{
	StringInfoData buf;
	bool		cut = false;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"seq\":" INT64_FORMAT ",\"event\":\"%s\",\"kind\":",
					 ev->seq, event_names[ev->event]);
	cut |= append_json_text(&buf, ev->kind);
	appendStringInfoString(&buf, ",\"namespace\":");
	cut |= append_json_text(&buf, ev->namespace);
	appendStringInfoString(&buf, ",\"session_key\":\"");
	appendStringInfoString(&buf, DatumGetCString(DirectFunctionCall1(uuid_out,
																	 UUIDPGetDatum(&ev->session_key))));
	appendStringInfoString(&buf, "\",\"external_id\":");
	if (ev->external_id)
		cut |= append_json_text(&buf, ev->external_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"status\":");
	cut |= append_json_text(&buf, ev->status);
	appendStringInfoString(&buf, ",\"time\":");
	if (ev->has_time)
	{
		char		ts[MAXDATELEN + 1];
		int			utc = 0;

		/* ISO 8601 in UTC whatever the session's TimeZone. */
		JsonEncodeDateTime(ts, TimestampTzGetDatum(ev->time), TIMESTAMPTZOID, &utc);
		appendStringInfo(&buf, "\"%s\"", ts);
	}
	else
		appendStringInfoString(&buf, "null");
	if (cut)
		appendStringInfoString(&buf, ",\"truncated\":true");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * parse_event
 *		Event name to EventType; errors name the argument.
 */
static EventType
parse_event(const char *name)
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
 * channel_name
 *		The naming rule: "sessions_<event>" for every namespace; for one
 *		namespace "sessions_<event>_<ns>" when ns is made of [a-z0-9_] only
 *		(a plain identifier, LISTEN needs no quotes), else
 *		"sessions_<event>:<ns>" with ns verbatim (quote it in LISTEN). A name
 *		over 63 bytes, or a namespace holding '#' or a control character,
 *		keeps a prefix of ns cut at a character boundary (control characters
 *		shown as '?') and ends with '#' and the first 16 hex digits of
 *		sha256(ns). A verbatim name thus never holds '#' and a hashed one
 *		always does: two namespaces never share a channel unless their
 *		64-bit hash prefixes collide.
 */
static void
channel_name(EventType event, const char *ns, char *out)
{
	bool		plain = true;
	bool		verbatim = true;
	int			nslen,
				baselen;

	if (ns == NULL)
	{
		snprintf(out, NAMEDATALEN, "sessions_%s", event_names[event]);
		return;
	}
	for (const char *p = ns; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
		{
			plain = false;
			break;
		}
	for (const unsigned char *p = (const unsigned char *) ns; *p; p++)
		if (*p == '#' || *p < 0x20 || *p == 0x7f)
		{
			verbatim = false;
			break;
		}
	baselen = snprintf(out, NAMEDATALEN, "sessions_%s%c", event_names[event], plain ? '_' : ':');
	nslen = strlen(ns);
	if (verbatim && baselen + nslen <= NAMEDATALEN - 1)
		memcpy(out + baselen, ns, nslen + 1);
	else
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
		uint8		digest[PG_SHA256_DIGEST_LENGTH];
		int			keep;

		if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) ns, nslen) < 0 ||
			pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
			elog(ERROR, "could not compute SHA-256 of a namespace");
		pg_cryptohash_free(ctx);
		keep = pg_mbcliplen(ns, nslen, NAMEDATALEN - 1 - baselen - 17);
		memcpy(out + baselen, ns, keep);
		for (int i = 0; i < keep; i++)
		{
			unsigned char c = (unsigned char) out[baselen + i];

			if (c < 0x20 || c == 0x7f)
				out[baselen + i] = '?';
		}
		out[baselen + keep] = '#';
		for (int i = 0; i < 8; i++)
			snprintf(out + baselen + keep + 1 + 2 * i, 3, "%02x", digest[i]);
	}
}

/*
 * sa_channel_for
 *		SQL: sessions.channel_for(event, namespace): the channel to LISTEN on.
 */
Datum
sa_channel_for(PG_FUNCTION_ARGS)
{
	char		name[NAMEDATALEN];
	char	   *ns = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event must not be NULL"),
				 errhint("Use start, stop or update.")));
	if (!PG_ARGISNULL(1))
	{
		ns = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (ns[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("namespace must not be empty"),
					 errhint("Pass NULL for the channel of every namespace.")));
	}
	channel_name(parse_event(text_to_cstring(PG_GETARG_TEXT_PP(0))), ns, name);
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * fields_from_row
 *		The event fields of a sessions.event_log row, read by attribute number
 *		once the row type's columns are checked; NULLs in NOT NULL columns
 *		(possible in a hand-built row) are errors.
 */
static void
fields_from_row(HeapTupleHeader row, EventFields *ev_out)
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

	/* The descriptor's shape is fixed (check_log_desc), so use attnums. */
#define FIELD(n) (d = heap_getattr(&tuple, n, desc, &isnull), isnull)
	if (FIELD(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("seq must not be NULL")));
	ev.seq = DatumGetInt64(d);
	if (FIELD(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("event must not be NULL")));
	ev.event = parse_event(TextDatumGetCString(d));
	ev.kind = FIELD(3) ? "" : TextDatumGetCString(d);
	ev.namespace = FIELD(4) ? "" : TextDatumGetCString(d);
	if (FIELD(5))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("session_key must not be NULL")));
	ev.session_key = *DatumGetUUIDP(d);
	ev.external_id = FIELD(6) ? NULL : TextDatumGetCString(d);
	ev.status = FIELD(7) ? "" : TextDatumGetCString(d);
	ev.has_time = !FIELD(8);
	ev.time = ev.has_time ? DatumGetTimestampTz(d) : 0;
#undef FIELD
	ReleaseTupleDesc(desc);
	*ev_out = ev;
}

/*
 * sa_event_payload
 *		SQL: sessions.event_payload(sessions.event_log): the notification
 *		payload of a logged event, so catch-up and live output match.
 */
Datum
sa_event_payload(PG_FUNCTION_ARGS)
{
	EventFields ev;

	fields_from_row(PG_GETARG_HEAPTUPLEHEADER(0), &ev);
	PG_RETURN_TEXT_P(cstring_to_text(build_payload(&ev)));
}

/*
 * sa_notify_enabled
 *		session_analytics.notify, for the notifier.
 */
bool
sa_notify_enabled(void)
{
	return notify_enabled;
}

/* ---------------------------------------------------------------------
 * Pending notifications
 * ---------------------------------------------------------------------
 */

/*
 * channel_add
 *		Remembers one event for the all-namespaces channel (all) or its
 *		namespace's channel at the current nesting level. The payload is
 *		built on first need (*payload caches it): bulk statements past the
 *		coalescing limit never build one.
 */
static void
channel_add(const EventFields *ev, bool all, char **payload)
{
	EventType	event = ev->event;
	const char *ns = all ? NULL : ev->namespace;
	int64		seq = ev->seq;
	char		name[NAMEDATALEN];
	ChannelState *ch;
	bool		found;
	int			level = GetCurrentTransactionNestLevel();
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	if (pending_channels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(ChannelState);
		ctl.hcxt = TopTransactionContext;
		pending_channels = hash_create("session_analytics pending notifications", 16, &ctl,
									   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		pending_first = pending_last = NULL;
	}
	channel_name(event, ns, name);
	ch = hash_search(pending_channels, name, HASH_ENTER, &found);
	if (!found)
	{
		ch->event = event;
		ch->namespace = ns ? pstrdup(ns) : NULL;
		ch->nsegs = ch->nitems = 0;
		ch->maxsegs = 4;
		ch->segs = palloc(sizeof(ChannelSeg) * ch->maxsegs);
		ch->maxitems = 8;
		ch->items = palloc(sizeof(ChannelItem) * ch->maxitems);
		ch->coalesced = false;
		ch->next = NULL;
		if (pending_last)
			pending_last->next = ch;
		else
			pending_first = ch;
		pending_last = ch;
	}

	if (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level == level)
	{
		ch->segs[ch->nsegs - 1].count++;
		ch->segs[ch->nsegs - 1].last = seq;
	}
	else
	{
		if (ch->nsegs == ch->maxsegs)
		{
			ch->maxsegs *= 2;
			ch->segs = repalloc(ch->segs, sizeof(ChannelSeg) * ch->maxsegs);
		}
		ch->segs[ch->nsegs++] = (ChannelSeg) {level, 1, seq, seq};
	}

	if (!ch->coalesced)
	{
		if (ch->nitems >= notify_coalesce_after)
		{
			/* Too many for one notification each: from now on, a range. */
			for (int i = 0; i < ch->nitems; i++)
				pfree(ch->items[i].payload);
			ch->nitems = 0;
			ch->coalesced = true;
		}
		else
		{
			if (ch->nitems == ch->maxitems)
			{
				ch->maxitems *= 2;
				ch->items = repalloc(ch->items, sizeof(ChannelItem) * ch->maxitems);
			}
			if (*payload == NULL)
				*payload = build_payload(ev);
			ch->items[ch->nitems++] = (ChannelItem) {level, seq, pstrdup(*payload)};
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * sa_events_announce
 *		Remembers the notifications of one logged event (a sessions.event_log
 *		row) in the current transaction, exactly as the trigger does: the
 *		notifier calls it for each event it delivers, so payloads, channels
 *		and coalescing are the same, counted per delivery transaction.
 */
void
sa_events_announce(HeapTupleHeader row)
{
	EventFields ev;
	char	   *payload = NULL;

	fields_from_row(row, &ev);
	channel_add(&ev, true, &payload);
	channel_add(&ev, false, &payload);
	if (payload)
		pfree(payload);
}

/*
 * events_subxact_callback
 *		A committed subtransaction's events move to its parent; an aborted
 *		one's are forgotten (its log rows are gone with it).
 */
static void
events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (pending_first == NULL ||
		(event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	for (ChannelState *ch = pending_first; ch; ch = ch->next)
	{
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			while (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level >= level)
				ch->nsegs--;
			while (ch->nitems > 0 && ch->items[ch->nitems - 1].level >= level)
				pfree(ch->items[--ch->nitems].payload);
		}
		else
		{
			/* Fold the tail segments at this level or deeper into the parent. */
			while (ch->nsegs > 0 && ch->segs[ch->nsegs - 1].level >= level)
			{
				ChannelSeg *tail = &ch->segs[ch->nsegs - 1];

				if (ch->nsegs > 1 && ch->segs[ch->nsegs - 2].level >= level - 1)
				{
					ChannelSeg *prev = &ch->segs[ch->nsegs - 2];

					prev->count += tail->count;
					prev->first = Min(prev->first, tail->first);
					prev->last = Max(prev->last, tail->last);
					prev->level = Min(prev->level, level - 1);
					ch->nsegs--;
				}
				else
				{
					tail->level = level - 1;
					break;
				}
			}
			for (int i = ch->nitems - 1; i >= 0 && ch->items[i].level >= level; i--)
				ch->items[i].level = level - 1;
		}
	}
}

/* One notification to queue, with its place in the order. */
typedef struct OutNote
{
	int64		seq;			/* the event's, or a range's first_seq */
	int			chan;			/* channel creation order: ties */
	const char *channel;
	const char *payload;
} OutNote;

static int
outnote_cmp(const void *a, const void *b)
{
	const OutNote *x = a,
			   *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->chan - y->chan;
}

/*
 * flush_notifications
 *		Queues the transaction's notifications in seq order across channels
 *		(for one event: the all-namespaces channel first): one per event, or
 *		for a channel that passed notify_coalesce_after one range
 *		{"first_seq","last_seq","count","event","namespace"}, placed at its
 *		first_seq. A listener on several channels thus never gets an event
 *		after a higher-numbered one, whether a writer or the notifier sends.
 */
static void
flush_notifications(void)
{
	OutNote    *notes;
	int			nnotes = 0,
				maxnotes = 0,
				chan = 0;

	for (ChannelState *ch = pending_first; ch; ch = ch->next)
		maxnotes += ch->coalesced ? 1 : ch->nitems;
	if (maxnotes == 0)
		return;
	notes = palloc(sizeof(OutNote) * maxnotes);
	for (ChannelState *ch = pending_first; ch; ch = ch->next, chan++)
	{
		int64		count = 0,
					first = PG_INT64_MAX,
					last = 0;

		for (int i = 0; i < ch->nsegs; i++)
		{
			count += ch->segs[i].count;
			first = Min(first, ch->segs[i].first);
			last = Max(last, ch->segs[i].last);
		}
		if (count == 0)
			continue;
		if (!ch->coalesced)
		{
			for (int i = 0; i < ch->nitems; i++)
				notes[nnotes++] = (OutNote) {ch->items[i].seq, chan, ch->name, ch->items[i].payload};
		}
		else
		{
			StringInfoData buf;

			initStringInfo(&buf);
			appendStringInfo(&buf, "{\"first_seq\":" INT64_FORMAT ",\"last_seq\":" INT64_FORMAT
							 ",\"count\":" INT64_FORMAT ",\"event\":\"%s\",\"namespace\":",
							 first, last, count, event_names[ch->event]);
			if (ch->namespace)
				append_json_text(&buf, ch->namespace);
			else
				appendStringInfoString(&buf, "null");
			appendStringInfoChar(&buf, '}');
			notes[nnotes++] = (OutNote) {first, chan, ch->name, buf.data};
		}
	}
	qsort(notes, nnotes, sizeof(OutNote), outnote_cmp);
	for (int i = 0; i < nnotes; i++)
		Async_Notify(notes[i].channel, notes[i].payload);
	pfree(notes);
}

/*
 * events_xact_callback
 *		Sends the pending notifications just before commit (before
 *		PreCommit_Notify moves NOTIFYs into the queue); forgets them at the end
 *		of every transaction. A transaction that chose commit mode but finds
 *		the notifier delivering by now leaves its events to the notifier too
 *		(they commit after the notifier's start position, so it announces
 *		them). A transaction whose events the notifier delivers wakes it once
 *		the commit is visible -- a SetLatch, no lock -- and also after an
 *		abort, since its open transaction may have held back later events. A
 *		prepared transaction cannot NOTIFY: its events reach readers through
 *		sessions.events_since, and the notifier's next round announces them
 *		after COMMIT PREPARED.
 */
static void
events_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (xact_delivery == DELIVERY_COMMIT && sa_notifier_selected())
				xact_delivery = DELIVERY_NOTIFIER;
			else if (pending_first && xact_delivery != DELIVERY_NOTIFIER)
				flush_notifications();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (xact_delivery == DELIVERY_NOTIFIER &&
				(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT))
				sa_notifier_wake();
			/* The memory goes with TopTransactionContext. */
			pending_channels = NULL;
			pending_first = pending_last = NULL;
			xact_delivery = DELIVERY_NONE;
			break;
		default:
			break;
	}
}

/* ---------------------------------------------------------------------
 * The trigger
 * ---------------------------------------------------------------------
 */

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
 * insert_log_row
 *		Appends one row to sessions.event_log directly (heap and indexes), as
 *		logical replication applies rows: no SPI, no plan, no permission or
 *		RLS check -- writers need no privilege on the log and cannot forge
 *		events through it. The caller holds RowExclusiveLock on the log.
 */
static void
insert_log_row(Oid logid, const EventFields *ev, FullTransactionId horizon)
{
	Relation	rel = table_open(logid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *nulls;

	check_log_desc(desc);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	memset(nulls, 0, sizeof(bool) * desc->natts);
	/* Column order of 60_events.sql. */
	values[0] = Int64GetDatum(ev->seq);
	values[1] = CStringGetTextDatum(event_names[ev->event]);
	values[2] = CStringGetTextDatum(ev->kind);
	values[3] = CStringGetTextDatum(ev->namespace);
	values[4] = UUIDPGetDatum(&ev->session_key);
	if (ev->external_id)
		values[5] = CStringGetTextDatum(ev->external_id);
	else
		nulls[5] = true;
	values[6] = CStringGetTextDatum(ev->status);
	if (ev->has_time)
		values[7] = TimestampTzGetDatum(ev->time);
	else
		nulls[7] = true;
	values[8] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[9] = FullTransactionIdGetDatum(horizon);
	ExecStoreVirtualTuple(slot);

	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);

	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
}

/*
 * log_event
 *		Takes the next seq, reads the transaction-id horizon after it (the
 *		catch-up bound, see sessions.events_head), writes the log row and
 *		remembers the notifications.
 */
static void
log_event(EventType event, const StoreRow *row)
{
	EventFields ev;
	Oid			seqid = ext_seq_relid;
	Oid			logid = ext_log_relid;
	FullTransactionId horizon;
	char	   *payload = NULL;

	/*
	 * Lock the log before taking the seq: readers treat a running transaction
	 * as a possible holder of lower seqs exactly when it holds this lock.
	 */
	LockRelationOid(logid, RowExclusiveLock);
	ev.seq = nextval_internal(seqid, false);
	horizon = ReadNextFullTransactionId();
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

	insert_log_row(logid, &ev, horizon);

	if (notify_enabled)
	{
		if (xact_delivery == DELIVERY_NONE)
			xact_delivery = sa_notifier_selected() ? DELIVERY_NOTIFIER : DELIVERY_COMMIT;
		if (xact_delivery == DELIVERY_COMMIT)
		{
			channel_add(&ev, true, &payload);
			channel_add(&ev, false, &payload);
		}
	}
	if (payload)
		pfree(payload);
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
		resolve_ext_objects();
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

/*
 * sa_prune_events
 *		SQL: sessions.prune_events(): deletes events logged longer ago than
 *		session_analytics.event_retention (never past sessions.events_head(),
 *		so pruning cannot overtake a late-committing transaction) and records
 *		the highest removed seq, so a reader resuming below it gets an error
 *		instead of a silent gap.
 */
Datum
sa_prune_events(PG_FUNCTION_ARGS)
{
	int64		deleted = 0;
	Datum		arg;
	Oid			argtype = INT4OID;
	bool		isnull;

	if (event_retention_min == 0)
		PG_RETURN_INT64(0);
	arg = Int32GetDatum(event_retention_min);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	/* Every name qualified: the schema is the extension's (non-relocatable). */
	if (SPI_execute_with_args(
							  "WITH d AS (DELETE FROM sessions.event_log e "
							  "  WHERE e.logged_at OPERATOR(pg_catalog.<) (pg_catalog.now() "
							  "          OPERATOR(pg_catalog.-) pg_catalog.make_interval(mins => $1)) "
							  "    AND e.seq OPERATOR(pg_catalog.<=) sessions.events_head() RETURNING e.seq), "
							  "m AS (SELECT pg_catalog.count(*) AS n, pg_catalog.max(d.seq) AS top FROM d), "
							  "u AS (UPDATE sessions.event_prune_state s "
							  "  SET pruned_through = GREATEST(s.pruned_through, m.top), pruned_at = pg_catalog.now() "
							  "  FROM m WHERE m.top IS NOT NULL RETURNING 1) "
							  "SELECT m.n FROM m",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not prune sessions.event_log")));
	deleted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(deleted);
}
